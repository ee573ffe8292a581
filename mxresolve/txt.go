package mxresolve

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// LookupTXT returns the TXT records at name, each one's character-strings
// joined (RFC 7208 §3.3 and RFC 8461 §3.1 read a record so). NXDOMAIN and
// NODATA are an empty list with no error; any failure to get an answer is
// an error (temporary). It uses the Resolver's server and Cache.
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	n, ok := normalize(name)
	if !ok {
		return nil, newError(name, ErrInvalidDomain, "not a valid domain name", nil)
	}
	ans, err := r.lookup(ctx, r.server(), n, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range ans.rrs {
		if t, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(t.Txt, ""))
		}
	}
	return out, nil
}

// LookupHost returns the addresses of a host name (AAAA and A, in the
// Resolver's family order), for connections other than SMTP that must use
// the same DNS as delivery (an MTA-STS policy server). NXDOMAIN and NODATA
// are an error, as is any failure.
func (r *Resolver) LookupHost(ctx context.Context, name string) ([]netip.Addr, error) {
	n, ok := normalize(name)
	if !ok {
		return nil, newError(name, ErrInvalidDomain, "not a valid domain name", nil)
	}
	h := r.hostAddrs(ctx, r.server(), n)
	if len(h.addrs) == 0 {
		return nil, fmt.Errorf("%s: %s", n, h.reason())
	}
	return h.addrs, nil
}
