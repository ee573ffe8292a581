package httpapi

import (
	"bytes"
	"net/http"
	"slices"
	"testing"
)

// recordingSigner signs every message by recording what it was given.
type recordingSigner struct {
	from   string
	fields []string
	buf    bytes.Buffer
}

func (r *recordingSigner) Sign(from string, fields []string) (Signing, error) {
	r.from, r.fields = from, fields
	return r, nil
}

func (r *recordingSigner) Write(p []byte) (int, error) { return r.buf.Write(p) }
func (r *recordingSigner) Finish() ([]byte, []string, error) {
	return []byte("X-Signed: yes\r\n"), []string{"example.com/s1"}, nil
}
func (r *recordingSigner) Abort() {}

// TestSignedAsStored: the signer sees exactly the bytes stored after its
// prefix, and every header field name, so the signature verifies on the
// stored copy.
func TestSignedAsStored(t *testing.T) {
	sig := new(recordingSigner)
	a := newTestAPI(t, func(o *Options) { o.Signer = sig })
	status, out := a.post(t, `{"from":"App <app@example.com>","to":["b@example.org"],"subject":"s","text":"x"}`, "")
	if status != http.StatusAccepted {
		t.Fatalf("%d %v", status, out)
	}
	m, stored := a.stored(t, out["id"].(string))
	if want := append([]byte("X-Signed: yes\r\n"), sig.buf.Bytes()...); !bytes.Equal(stored, want) {
		t.Errorf("stored bytes are not prefix + signed bytes:\n%s\n---\n%s", stored, sig.buf.Bytes())
	}
	if !slices.Equal(m.Signed, []string{"example.com/s1"}) || sig.from != `"App" <app@example.com>` && sig.from != "App <app@example.com>" {
		t.Errorf("Signed %v, from %q", m.Signed, sig.from)
	}
	for _, f := range []string{"Received", "Date", "Message-Id", "From", "To", "Subject", "Mime-Version", "Content-Type"} {
		if !slices.ContainsFunc(sig.fields, func(s string) bool { return bytes.EqualFold([]byte(s), []byte(f)) }) {
			t.Errorf("field %s not named to the signer: %v", f, sig.fields)
		}
	}
}
