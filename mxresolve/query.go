package mxresolve

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// ednsSize is the UDP payload size advertised with EDNS0: the DNS Flag Day
// 2020 value, which avoids IP fragmentation. Larger answers come back
// truncated and are asked again over TCP (RFC 7766 §5).
const ednsSize = 1232

// maxChain bounds the queries spent following one CNAME chain (RFC 1034
// §3.6.2 asks resolvers to guard against loops).
const maxChain = 8

// errServer is the cause of a temporary error when the server answered with
// an RCODE other than NOERROR or NXDOMAIN.
var errServer = errors.New("DNS server error")

// answer is the outcome of one name lookup that reached a verdict.
type answer struct {
	nxdomain bool     // the (final) name does not exist
	rrs      []dns.RR // records of the asked type at the end of the CNAME chain
	// ttl is how long the verdict may be cached: the least TTL of the
	// answer records seen along the chain and, for a negative verdict,
	// of its SOA (RFC 2308 §5). noTTL: a negative verdict came without
	// an SOA, so it must not be cached (RFC 2308 §5).
	ttl   time.Duration
	noTTL bool
	// secure: every response along the chain had AD set by a Validating
	// resolver (RFC 4035 §3.2.3).
	secure bool
}

// negative reports whether a is NXDOMAIN or NODATA (RFC 2308 §1).
func (a answer) negative() bool { return a.nxdomain || len(a.rrs) == 0 }

// lookup asks server for the records of qtype at name, following CNAMEs
// (RFC 1034 §3.6.2, RFC 5321 §5.1: the canonical name is processed as if it
// were the name asked). A recursive server answers the whole chain at once;
// when the answer stops at a CNAME without data for its target, the target
// is asked in turn. Any failure to get a verdict is returned as an error;
// NXDOMAIN and NODATA are verdicts.
func (r *Resolver) lookup(ctx context.Context, server serverFunc, name string, qtype uint16) (answer, error) {
	if r.Cache == nil {
		return r.query(ctx, server, name, qtype)
	}
	return r.Cache.lookup(ctx, cacheKey{name: dns.Fqdn(name), qtype: qtype}, func(ctx context.Context) (answer, error) {
		return r.query(ctx, server, name, qtype)
	})
}

// query is lookup without the cache: it asks the server, following the
// CNAME chain.
func (r *Resolver) query(ctx context.Context, server serverFunc, name string, qtype uint16) (answer, error) {
	addr, err := server()
	if err != nil {
		return answer{}, fmt.Errorf("no DNS server: %w", err)
	}
	target := dns.Fqdn(name)
	ttl := time.Duration(math.MaxInt64)
	secure := r.Validating
	for range maxChain {
		resp, err := r.exchange(ctx, addr, target, qtype)
		if err != nil {
			return answer{}, err
		}
		secure = secure && resp.AuthenticatedData
		for _, rr := range resp.Answer {
			ttl = min(ttl, seconds(rr.Header().Ttl))
		}
		switch resp.Rcode {
		case dns.RcodeSuccess:
		case dns.RcodeNameError:
			// With a CNAME in the answer, the RCODE is about the last
			// name of the chain (RFC 6604 §3): the destination is gone.
			return negativeAnswer(true, resp, ttl, secure), nil
		default:
			return answer{}, fmt.Errorf("%w: %s for %s %s", errServer,
				dns.RcodeToString[resp.Rcode], strings.TrimSuffix(target, "."), dns.TypeToString[qtype])
		}
		rrs, final := extract(resp.Answer, target, qtype)
		switch {
		case len(rrs) > 0:
			return answer{rrs: rrs, ttl: ttl, secure: secure}, nil
		case final == target:
			return negativeAnswer(false, resp, ttl, secure), nil
		}
		target = final
	}
	return answer{}, fmt.Errorf("%w: CNAME chain longer than %d at %s", errServer, maxChain, name)
}

// negativeAnswer is the NXDOMAIN or NODATA verdict of resp, cacheable for
// the least of ttl (the chain's records), the SOA's own TTL and its
// MINIMUM field (RFC 2308 §5). Without an SOA in the authority section it
// is not cacheable (RFC 2308 §5: such answers "SHOULD NOT be cached").
func negativeAnswer(nxdomain bool, resp *dns.Msg, ttl time.Duration, secure bool) answer {
	a := answer{nxdomain: nxdomain, noTTL: true, secure: secure}
	for _, rr := range resp.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			a.ttl = min(ttl, seconds(soa.Hdr.Ttl), seconds(soa.Minttl))
			a.noTTL = false
			break
		}
	}
	return a
}

// seconds converts a DNS TTL to a duration. RFC 2181 §8 caps TTLs at
// 2^31-1 and says a larger one means 0.
func seconds(ttl uint32) time.Duration {
	if ttl > math.MaxInt32 {
		return 0
	}
	return time.Duration(ttl) * time.Second
}

// extract follows the CNAME chain from name through the answer section and
// returns the records of qtype owned by its last name, and that name.
func extract(ans []dns.RR, name string, qtype uint16) ([]dns.RR, string) {
	final := strings.ToLower(name)
	for range len(ans) + 1 { // a chain longer than the section is a loop
		next := ""
		for _, rr := range ans {
			if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, final) {
				next = strings.ToLower(dns.Fqdn(c.Target))
				break
			}
		}
		if next == "" {
			break
		}
		final = next
	}
	var rrs []dns.RR
	for _, rr := range ans {
		if rr.Header().Rrtype == qtype && strings.EqualFold(rr.Header().Name, final) {
			rrs = append(rrs, rr)
		}
	}
	return rrs, final
}

// exchange sends one query over UDP and, when the answer is truncated,
// again over TCP (RFC 7766 §5; RFC 1035 §4.2.1). Each transport gets its
// own Timeout.
func (r *Resolver) exchange(ctx context.Context, server, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = true
	// AD in a query asks the resolver to say whether it validated the
	// answer, without the RRSIGs that DO would bring (RFC 6840 §5.7).
	m.AuthenticatedData = r.Validating
	m.SetEdns0(ednsSize, false)

	resp, err := r.exchangeOver(ctx, "udp", server, m)
	if err != nil || !resp.Truncated {
		return resp, err
	}
	resp, err = r.exchangeOver(ctx, "tcp", server, m)
	if err == nil && resp.Truncated {
		return nil, fmt.Errorf("%w: truncated answer over TCP for %s", errServer, name)
	}
	return resp, err
}

// exchangeOver runs one exchange on one transport. The library only reads
// the context's deadline, so cancellation is made to close the connection,
// which unblocks the read at once (daemon shutdown must not wait Timeout).
func (r *Resolver) exchangeOver(ctx context.Context, network, server string, m *dns.Msg) (*dns.Msg, error) {
	qctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	c := &dns.Client{Net: network, Timeout: r.timeout()}
	conn, err := c.DialContext(qctx, server)
	if err == nil {
		defer conn.Close()
		stop := context.AfterFunc(qctx, func() { conn.Close() })
		defer stop()
		var resp *dns.Msg
		if resp, _, err = c.ExchangeWithConnContext(qctx, m, conn); err == nil {
			return resp, nil
		}
	}
	switch {
	case ctx.Err() != nil:
		// The caller gave up: say so rather than "use of closed
		// network connection", which is what it caused.
		err = context.Cause(ctx)
	case qctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded):
		err = fmt.Errorf("no answer within %v: %w", r.timeout(), os.ErrDeadlineExceeded)
	}
	return nil, fmt.Errorf("%s %s: %w", network, server, err)
}

// defaultServer returns the first nameserver of the resolv.conf file at
// path, or the loopback one when the file names none (resolv.conf(5)).
func defaultServer(path string) (string, error) {
	cfg, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return "", err
	}
	if len(cfg.Servers) == 0 {
		return net.JoinHostPort("127.0.0.1", "53"), nil
	}
	return net.JoinHostPort(cfg.Servers[0], cfg.Port), nil
}
