package dane_test

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/outbox-mta/outbox/delivery/dane"
	"github.com/outbox-mta/outbox/delivery/smtptest"
)

func sum256(b []byte) []byte { d := sha256.Sum256(b); return d[:] }
func sum512(b []byte) []byte { d := sha512.Sum512(b); return d[:] }

func rec(u, s, m uint8, data []byte) dane.Record {
	return dane.Record{Usage: u, Selector: s, MatchingType: m, Data: data}
}

// TestVerify is the matching table of RFC 7672 §3: each usage, selector
// and matching type, the checks DANE-EE skips and the ones DANE-TA makes.
func TestVerify(t *testing.T) {
	ca := smtptest.NewCA(t)
	other := smtptest.NewCA(t)
	leaf := ca.Issue(t, "mx.dane.test").Leaf
	wrongName := ca.Issue(t, "elsewhere.test").Leaf
	expired := ca.IssueUntil(t, time.Now().Add(-time.Hour), "mx.dane.test").Leaf
	domainOnly := ca.Issue(t, "dane.test").Leaf
	wild := ca.Issue(t, "*.dane.test").Leaf
	wideWild := ca.Issue(t, "*.test").Leaf
	stranger := other.Issue(t, "mx.dane.test").Leaf
	names := []string{"mx.dane.test", "dane.test"}
	chain := func(cs ...*x509.Certificate) []*x509.Certificate { return cs }

	eeSPKI := rec(3, 1, 1, sum256(leaf.RawSubjectPublicKeyInfo))
	taCert := rec(2, 0, 1, sum256(ca.Cert.Raw))
	cases := []struct {
		name  string
		recs  []dane.Record
		chain []*x509.Certificate
		names []string
		err   error
		depth int
	}{
		{"EE SPKI SHA-256", []dane.Record{eeSPKI}, chain(leaf, ca.Cert), names, nil, 0},
		{"EE cert SHA-256", []dane.Record{rec(3, 0, 1, sum256(leaf.Raw))}, chain(leaf), names, nil, 0},
		{"EE SPKI SHA-512", []dane.Record{rec(3, 1, 2, sum512(leaf.RawSubjectPublicKeyInfo))}, chain(leaf), names, nil, 0},
		{"EE cert in full", []dane.Record{rec(3, 0, 0, leaf.Raw)}, chain(leaf), names, nil, 0},
		{"EE SPKI in full", []dane.Record{rec(3, 1, 0, leaf.RawSubjectPublicKeyInfo)}, chain(leaf), names, nil, 0},
		{"EE other key", []dane.Record{rec(3, 1, 1, sum256(stranger.RawSubjectPublicKeyInfo))}, chain(leaf), names, dane.ErrNoMatch, 0},
		// RFC 7672 §3.1.1: no name, date or issuer checks for DANE-EE.
		{"EE ignores name", []dane.Record{rec(3, 1, 1, sum256(wrongName.RawSubjectPublicKeyInfo))}, chain(wrongName), names, nil, 0},
		{"EE ignores expiry", []dane.Record{rec(3, 0, 1, sum256(expired.Raw))}, chain(expired), names, nil, 0},
		{"EE ignores issuer", []dane.Record{rec(3, 0, 1, sum256(stranger.Raw))}, chain(stranger), names, nil, 0},
		{"EE matches the leaf only", []dane.Record{rec(3, 0, 1, sum256(ca.Cert.Raw))}, chain(leaf, ca.Cert), names, dane.ErrNoMatch, 0},

		{"TA cert SHA-256", []dane.Record{taCert}, chain(leaf, ca.Cert), names, nil, 1},
		{"TA SPKI SHA-256", []dane.Record{rec(2, 1, 1, sum256(ca.Cert.RawSubjectPublicKeyInfo))}, chain(leaf, ca.Cert), names, nil, 1},
		{"TA SPKI SHA-512", []dane.Record{rec(2, 1, 2, sum512(ca.Cert.RawSubjectPublicKeyInfo))}, chain(leaf, ca.Cert), names, nil, 1},
		{"TA in full, not sent (2 0 0)", []dane.Record{rec(2, 0, 0, ca.Cert.Raw)}, chain(leaf), names, nil, -1},
		{"TA digest, not sent", []dane.Record{taCert}, chain(leaf), names, dane.ErrNoMatch, 0},
		{"TA name mismatch", []dane.Record{taCert}, chain(wrongName, ca.Cert), names, dane.ErrHostMismatch, 0},
		{"TA next-hop domain name", []dane.Record{taCert}, chain(domainOnly, ca.Cert), names, nil, 1},
		{"TA wildcard one label", []dane.Record{taCert}, chain(wild, ca.Cert), names[:1], nil, 1},
		{"TA wildcard two labels", []dane.Record{taCert}, chain(wideWild, ca.Cert), names[:1], dane.ErrHostMismatch, 0},
		{"TA expired leaf", []dane.Record{taCert}, chain(expired, ca.Cert), names, dane.ErrExpired, 0},
		{"TA other issuer", []dane.Record{taCert}, chain(stranger, ca.Cert), names, dane.ErrNoMatch, 0},
		{"TA matching the leaf itself", []dane.Record{rec(2, 0, 1, sum256(leaf.Raw))}, chain(leaf, ca.Cert), names, dane.ErrNoMatch, 0},

		// RFC 7672 §3.1.3: PKIX-TA(0) and PKIX-EE(1) are unusable.
		{"PKIX-EE unusable", []dane.Record{rec(1, 1, 1, sum256(leaf.RawSubjectPublicKeyInfo))}, chain(leaf, ca.Cert), names, dane.ErrNoUsable, 0},
		{"PKIX-TA unusable", []dane.Record{rec(0, 0, 1, sum256(ca.Cert.Raw))}, chain(leaf, ca.Cert), names, dane.ErrNoUsable, 0},
		{"short digest unusable", []dane.Record{rec(3, 1, 1, sum256(leaf.RawSubjectPublicKeyInfo)[:31])}, chain(leaf), names, dane.ErrNoUsable, 0},
		{"unknown matching type", []dane.Record{rec(3, 1, 3, sum256(leaf.RawSubjectPublicKeyInfo))}, chain(leaf), names, dane.ErrNoUsable, 0},
		{"unknown selector", []dane.Record{rec(3, 2, 1, sum256(leaf.RawSubjectPublicKeyInfo))}, chain(leaf), names, dane.ErrNoUsable, 0},
		// The records of an RRset are alternatives (RFC 6698 §4.1).
		{"one of several", []dane.Record{rec(1, 1, 1, sum256(leaf.Raw)), rec(3, 1, 1, sum256(stranger.RawSubjectPublicKeyInfo)), taCert}, chain(leaf, ca.Cert), names, nil, 1},
		{"specific TA error wins", []dane.Record{rec(3, 1, 1, sum256(stranger.RawSubjectPublicKeyInfo)), taCert}, chain(wrongName, ca.Cert), names, dane.ErrHostMismatch, 0},
		{"no certificate", []dane.Record{eeSPKI}, nil, names, dane.ErrNoMatch, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := dane.Verify(c.recs, c.chain, c.names, time.Now())
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("Verify = %v, %v; want %v", m, err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if m.Depth != c.depth {
				t.Errorf("matched %v, want depth %d", m, c.depth)
			}
		})
	}
}

// TestClassify checks what a TLSA RRset requires (RFC 7672 §2.2).
func TestClassify(t *testing.T) {
	d := make([]byte, 32)
	cases := []struct {
		recs   []dane.Record
		usable int
		want   dane.Requirement
	}{
		{nil, 0, dane.RequireNone},
		{[]dane.Record{rec(1, 1, 1, d), rec(0, 0, 1, d)}, 0, dane.RequireEncryption},
		{[]dane.Record{rec(3, 1, 1, nil)}, 0, dane.RequireEncryption},
		{[]dane.Record{rec(1, 1, 1, d), rec(3, 1, 1, d), rec(2, 0, 1, d)}, 2, dane.RequireAuthentication},
	}
	for i, c := range cases {
		usable, req := dane.Classify(c.recs)
		if len(usable) != c.usable || req != c.want {
			t.Errorf("case %d: %d usable, %v; want %d, %v", i, len(usable), req, c.usable, c.want)
		}
	}
}

// TestFromDNS checks the conversion, a record with bad hex kept as
// unusable.
func TestFromDNS(t *testing.T) {
	good, err := dns.NewRR("_25._tcp.mx.dane.test. TLSA 3 1 1 " + "abcdef")
	if err != nil {
		t.Fatal(err)
	}
	bad := &dns.TLSA{Usage: 3, Selector: 1, MatchingType: 1, Certificate: "zz"}
	recs := dane.FromDNS([]*dns.TLSA{good.(*dns.TLSA), bad})
	if len(recs) != 2 || recs[0].String() != "3 1 1 abcdef" || recs[1].Data != nil || recs[1].Usable() {
		t.Errorf("FromDNS = %v", recs)
	}
}
