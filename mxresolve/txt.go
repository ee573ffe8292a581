package mxresolve

import (
	"context"
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
