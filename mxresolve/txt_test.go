package mxresolve

import (
	"context"
	"testing"

	"github.com/outbox-mta/outbox/mxresolve/dnstest"
)

func TestLookupTXTAndHost(t *testing.T) {
	s := &dnstest.Server{Zone: dnstest.Zone(t,
		`_mta-sts.example.com. 300 IN TXT "v=STSv1; " "id=20260101;"`,
		`_mta-sts.example.com. 300 IN TXT "other"`,
		`mta-sts.example.com. 300 IN A 192.0.2.1`,
		`mta-sts.example.com. 300 IN AAAA 2001:db8::1`,
	)}
	s.Start(t)
	r := &Resolver{Server: s.Addr(), PreferIPv4: true}
	ctx := context.Background()
	txt, err := r.LookupTXT(ctx, "_mta-sts.Example.com.")
	if err != nil || len(txt) != 2 || (txt[0] != "v=STSv1; id=20260101;" && txt[1] != "v=STSv1; id=20260101;") {
		t.Fatalf("LookupTXT = %q, %v", txt, err)
	}
	if txt, err := r.LookupTXT(ctx, "_mta-sts.nothing.example.com"); len(txt) != 0 || err != nil {
		t.Fatalf("missing TXT = %q, %v, want none and no error", txt, err)
	}
	addrs, err := r.LookupHost(ctx, "mta-sts.example.com")
	if err != nil || len(addrs) != 2 || addrs[0].String() != "192.0.2.1" || addrs[1].String() != "2001:db8::1" {
		t.Fatalf("LookupHost = %v, %v", addrs, err)
	}
	if _, err := r.LookupHost(ctx, "none.example.com"); err == nil {
		t.Fatal("LookupHost of a missing name: no error")
	}
}
