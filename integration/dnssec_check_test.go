package integration

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestSignedDNS checks the DNSSEC harness itself: the validating resolver
// sets AD on a signed TLSA answer and on a signed denial (NODATA), the
// authority never does, and a record altered after signing is SERVFAIL.
func TestSignedDNS(t *testing.T) {
	const good = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	const forged = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
	s := startSignedDNS(t, signedZoneOptions{
		Zone: "dane.test",
		Records: []string{
			"@ IN MX 10 mx1.dane.test.",
			"mx1 IN A 127.0.0.2",
			"_25._tcp.mx1 IN TLSA 3 1 1 " + good,
			"tampered IN A 127.0.0.2",
			"_25._tcp.tampered IN TLSA 3 1 1 " + good,
		},
		Tamper: func(signed string) string {
			// Only the tampered name's TLSA data changes; its RRSIG stays.
			return strings.Replace(signed, "_25._tcp.tampered.dane.test.\t60\tIN\tTLSA\t3 1 1 "+good,
				"_25._tcp.tampered.dane.test.\t60\tIN\tTLSA\t3 1 1 "+forged, 1)
		},
	})
	cases := []struct {
		server, name string
		qtype        uint16
		rcode        int
		ad           bool
		answers      int
	}{
		{s.Addr, "_25._tcp.mx1.dane.test", dns.TypeTLSA, dns.RcodeSuccess, true, 1},
		{s.Addr, "dane.test", dns.TypeMX, dns.RcodeSuccess, true, 1},
		{s.Addr, "mx1.dane.test", dns.TypeAAAA, dns.RcodeSuccess, true, 0}, // NODATA, proven by NSEC
		{s.Addr, "nope.dane.test", dns.TypeA, dns.RcodeNameError, true, 0},
		{s.Addr, "_25._tcp.tampered.dane.test", dns.TypeTLSA, dns.RcodeServerFailure, false, 0},
		{s.AuthAddr, "_25._tcp.mx1.dane.test", dns.TypeTLSA, dns.RcodeSuccess, false, 1},
	}
	for _, c := range cases {
		r, err := dnssecQuery(c.server, c.name, c.qtype)
		if err != nil {
			t.Errorf("%s %s @%s: %v", c.name, dns.TypeToString[c.qtype], c.server, err)
			continue
		}
		n := 0
		for _, rr := range r.Answer {
			if rr.Header().Rrtype == c.qtype {
				n++
			}
		}
		if r.Rcode != c.rcode || r.AuthenticatedData != c.ad || n != c.answers {
			t.Errorf("%s %s @%s: rcode %s ad %v answers %d, want %s ad %v answers %d",
				c.name, dns.TypeToString[c.qtype], c.server, dns.RcodeToString[r.Rcode], r.AuthenticatedData, n,
				dns.RcodeToString[c.rcode], c.ad, c.answers)
		}
	}
	if t.Failed() {
		return
	}
	summary(t, "signed zone %s: TLSA/MX/NODATA/NXDOMAIN answered with AD by the validating unbound; tampered TLSA: SERVFAIL; authority: no AD", s.Zone)
}
