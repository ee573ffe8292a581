package dkim_test

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/outbox-mta/outbox/delivery/dkim"
	"github.com/outbox-mta/outbox/mxresolve/dnstest"
)

func TestCheck(t *testing.T) {
	r, e := keys(t)
	rsaRec, _ := dkim.Record(r.Public())
	edRec, _ := dkim.Record(e.Public())
	tests := []struct {
		name string
		txts []string
		pub  crypto.PublicKey
		want error
	}{
		{"rsa ok", []string{rsaRec}, r.Public(), nil},
		{"ed25519 ok", []string{edRec}, e.Public(), nil},
		{"no v=, spaces in p=", []string{"k=ed25519 ; p=" + strings.Join(strings.SplitN(strings.TrimPrefix(edRec, "v=DKIM1; k=ed25519; p="), "", 4), " ")}, e.Public(), nil},
		{"missing", nil, r.Public(), dkim.ErrMissing},
		{"two records", []string{rsaRec, rsaRec}, r.Public(), dkim.ErrSyntax},
		{"revoked", []string{"v=DKIM1; k=rsa; p="}, r.Public(), dkim.ErrRevoked},
		{"wrong key", []string{edRec}, r.Public(), dkim.ErrWrongKey},
		{"bad base64", []string{"v=DKIM1; p=@@@"}, r.Public(), dkim.ErrSyntax},
		{"no p", []string{"v=DKIM1; k=rsa"}, r.Public(), dkim.ErrSyntax},
		{"bad version", []string{"v=DKIM2; p=AAAA"}, r.Public(), dkim.ErrSyntax},
		{"not a tag list", []string{"hello world"}, r.Public(), dkim.ErrSyntax},
		{"unknown k", []string{"k=dsa; p=AAAA"}, r.Public(), dkim.ErrSyntax},
	}
	for _, tt := range tests {
		err := dkim.Check(tt.txts, tt.pub)
		if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("%s: Check = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestSplitTXT(t *testing.T) {
	r, _ := keys(t)
	rec, _ := dkim.Record(r.Public())
	parts := dkim.SplitTXT(rec)
	if len(parts) < 2 || strings.Join(parts, "") != rec {
		t.Fatalf("SplitTXT: %d parts", len(parts))
	}
	for _, p := range parts {
		if len(p) > 255 {
			t.Errorf("part of %d bytes", len(p))
		}
	}
}

// TestLookup: the record published as several strings comes back joined;
// an absent name is "missing", not an error.
func TestLookup(t *testing.T) {
	r, _ := keys(t)
	rec, _ := dkim.Record(r.Public())
	var quoted []string
	for _, p := range dkim.SplitTXT(rec) {
		quoted = append(quoted, fmt.Sprintf("%q", p))
	}
	s := &dnstest.Server{Zone: dnstest.Zone(t, "s1._domainkey.example.com. TXT "+strings.Join(quoted, " "))}
	s.Start(t)
	ctx := context.Background()
	txts, err := dkim.Lookup(ctx, s.Addr(), dkim.RecordName("s1", "example.com"))
	if err != nil || dkim.Check(txts, r.Public()) != nil {
		t.Errorf("Lookup = %q, %v", txts, err)
	}
	txts, err = dkim.Lookup(ctx, s.Addr(), "nope._domainkey.example.com")
	if err != nil || !errors.Is(dkim.Check(txts, r.Public()), dkim.ErrMissing) {
		t.Errorf("absent record: %q, %v", txts, err)
	}
	s.Set("bad._domainkey.example.com", dnstest.ServFail)
	if _, err := dkim.Lookup(ctx, s.Addr(), "bad._domainkey.example.com"); err == nil {
		t.Error("SERVFAIL is not an error")
	}
}

func TestGenerateKey(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		bits int
		ok   bool
	}{{"ed25519", 0, true}, {"rsa", 1024, false}, {"ed25519", 2048, false}, {"dsa", 0, false}} {
		k, err := dkim.GenerateKey(tc.typ, tc.bits)
		if (err == nil) != tc.ok {
			t.Errorf("GenerateKey(%s, %d) = %v", tc.typ, tc.bits, err)
			continue
		}
		if k != nil {
			if pemKey, err := dkim.MarshalKey(k); err != nil || !strings.Contains(string(pemKey), "BEGIN PRIVATE KEY") {
				t.Errorf("MarshalKey: %v", err)
			}
		}
	}
}
