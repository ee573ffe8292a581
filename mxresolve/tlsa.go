package mxresolve

import (
	"context"
	"strconv"

	"github.com/miekg/dns"
)

// TLSA is the outcome of a TLSA lookup for one MX host (RFC 7672 §2.2).
type TLSA struct {
	// Name is the name asked: "_25._tcp.mx.example.com".
	Name string
	// Records are the TLSA records found, after any CNAME chain (RFC 7671
	// §7); nil when there are none (NXDOMAIN or NODATA).
	Records []*dns.TLSA
	// Secure: the answer, positive or negative, was DNSSEC-validated by a
	// Validating resolver. Records of an insecure answer must not be used
	// (RFC 7672 §2.2).
	Secure bool
}

// LookupTLSA asks for the TLSA records of host's SMTP service on port
// (RFC 7672 §2.2.3: "_25._tcp." before the MX host name). A failure to get
// a verdict (SERVFAIL, which a validating resolver returns for a bogus
// answer, a timeout) is an *Error of Kind ErrTemporary: RFC 7672 §2.2 says
// the host must then not be used, not that DANE can be skipped. NXDOMAIN
// and NODATA are verdicts: no records.
func (r *Resolver) LookupTLSA(ctx context.Context, host string, port uint16) (TLSA, error) {
	name, ok := normalize(host)
	if !ok {
		return TLSA{}, newError(host, ErrInvalidDomain, "not a valid host name", nil)
	}
	q := "_" + strconv.Itoa(int(port)) + "._tcp." + name
	res := TLSA{Name: q}
	ans, err := r.lookup(ctx, r.server(), q, dns.TypeTLSA)
	if err != nil {
		e := newError(q, ErrTemporary, "query failed", err)
		e.Query = "TLSA"
		return res, e
	}
	res.Secure = ans.secure
	for _, rr := range ans.rrs {
		if t, ok := rr.(*dns.TLSA); ok {
			res.Records = append(res.Records, t)
		}
	}
	return res, nil
}
