package tlsrpt_test

import (
	"testing"

	"github.com/outbox-mta/outbox/queue/tlsrpt"
)

// FuzzParseRecord feeds TXT strings, as any DNS server may publish them,
// to ParseRecord: it never panics, and whatever it returns is a mailto:
// or https: URI.
func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{
		"v=TLSRPTv1; rua=mailto:reports@example.com",
		"v=TLSRPTv1;rua=mailto:a@x.test,https://r.x.test/tlsrpt",
		"v=TLSRPTv1; rua=mailto:%61@x.test; ext=1",
		"v=TLSRPTv1",
		"v=TLSRPTv1; rua=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, txt string) {
		us, err := tlsrpt.ParseRecord([]string{txt})
		if err != nil && len(us) != 0 {
			t.Fatalf("error %v with %d URIs", err, len(us))
		}
		for _, u := range us {
			if u.Scheme != "mailto" && u.Scheme != "https" {
				t.Fatalf("%q gave a %s: URI", txt, u.Scheme)
			}
		}
	})
}
