package mxresolve

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Defaults for the zero values of Resolver's fields.
const (
	DefaultTimeout  = 5 * time.Second
	DefaultMaxHosts = 5
)

// Resolver finds where to deliver mail for a domain. The zero value is
// ready to use: it asks the first nameserver of /etc/resolv.conf. A
// Resolver is safe for concurrent use when its Shuffle is.
type Resolver struct {
	// Server is the DNS server to ask, "host:port". "" means the first
	// nameserver of /etc/resolv.conf, read at every Lookup that sends a
	// query (answers from the Cache need no server). It should be a
	// recursive resolver: queries are sent with RD set and CNAMEs are only
	// chased one name at a time.
	Server string
	// Timeout bounds each query on each transport (UDP, then TCP when the
	// UDP answer is truncated). Zero means DefaultTimeout (5s).
	Timeout time.Duration
	// Shuffle orders exchangers of equal preference. nil means
	// math/rand/v2's Shuffle. Tests pass the Shuffle method of a seeded
	// *rand.Rand, which is not safe for concurrent use.
	Shuffle ShuffleFunc
	// MaxHosts caps the exchangers resolved and returned per lookup, after
	// ordering. Zero means DefaultMaxHosts (5).
	MaxHosts int
	// PreferIPv4 puts each host's IPv4 addresses before its IPv6 ones. The
	// default, IPv6 first, follows RFC 6724; a site whose IPv6 addresses
	// lack reverse DNS (which large receivers reject) sets it.
	PreferIPv4 bool
	// Logger receives one line per exchanger skipped. nil means
	// slog.Default().
	Logger *slog.Logger
	// Cache, when set, keeps the answers of the MX, AAAA and A queries for
	// their TTL and merges concurrent identical queries into one. nil: every
	// Lookup asks the server.
	Cache *Cache
	// Validating says the operator vouches that Server validates DNSSEC
	// and is reached over a trusted path (loopback): its AD bit is then
	// believed and reported as Host.Secure and TLSA.Secure (RFC 6698
	// §4.1, as Postfix's smtp_dns_support_level = dnssec). false: AD is
	// ignored and nothing is ever secure, so DANE is never used.
	Validating bool
}

// Host is one mail exchanger to try, in order.
type Host struct {
	Name     string       // host name: lower case A-labels, no trailing dot; an address literal as given
	Pref     uint16       // MX preference; 0 when Implicit
	Addrs    []netip.Addr // addresses to try in order; never empty
	Implicit bool         // no MX: the domain itself (RFC 5321 §5.1), or an address literal
	// Secure: the MX answer and every address answer of this host were
	// DNSSEC-validated (AD from a Validating resolver). RFC 7672 §2.2 uses
	// TLSA records only for such a host.
	Secure bool
}

// Lookup returns the hosts to try for mail to domain, best first, each with
// at least one address. On failure it returns an *Error whose Kind is one
// of ErrNXDomain, ErrNullMX, ErrNoAddress, ErrInvalidDomain (permanent) or
// ErrTemporary. See the package documentation for the rules.
func (r *Resolver) Lookup(ctx context.Context, domain string) ([]Host, error) {
	if a, ok := addressLiteral(domain); ok {
		return []Host{{Name: domain, Addrs: []netip.Addr{a}, Implicit: true}}, nil
	}
	name, ok := normalize(domain)
	if !ok {
		return nil, newError(domain, ErrInvalidDomain, "not a valid domain name", nil)
	}
	server := r.server()
	mxs, implicit, secure, err := r.exchangers(ctx, server, name)
	if err != nil {
		return nil, err
	}
	mxs = Order(mxs, r.shuffle())
	if len(mxs) > r.maxHosts() {
		mxs = mxs[:r.maxHosts()]
	}
	hosts, err := r.addresses(ctx, server, name, mxs, implicit)
	for i := range hosts {
		hosts[i].Secure = hosts[i].Secure && secure
	}
	return hosts, err
}

// exchangers runs the MX query and applies RFC 7505 and the implicit MX
// rule of RFC 5321 §5.1.
// secure reports whether the answer was DNSSEC-validated.
func (r *Resolver) exchangers(ctx context.Context, server serverFunc, name string) (mxs []MX, implicit, secure bool, err error) {
	ans, err := r.lookup(ctx, server, name, dns.TypeMX)
	switch {
	case err != nil:
		return nil, false, false, newError(name, ErrTemporary, "MX query failed", err)
	case ans.nxdomain:
		return nil, false, false, newError(name, ErrNXDomain, "domain does not exist (NXDOMAIN)", nil)
	case len(ans.rrs) == 0:
		// NODATA: the domain exists without MX, so it is its own
		// exchanger, with preference 0 (RFC 5321 §5.1).
		return []MX{{Host: name}}, true, ans.secure, nil
	}
	mxs = make([]MX, 0, len(ans.rrs))
	for _, rr := range ans.rrs {
		if mx, ok := rr.(*dns.MX); ok {
			mxs = append(mxs, MX{Host: strings.TrimSuffix(strings.ToLower(mx.Mx), "."), Pref: mx.Preference})
		}
	}
	// A "." target beside real ones breaks RFC 7505 §3; skip it and use
	// the others, as the publisher evidently also wants mail.
	mxs = slices.DeleteFunc(mxs, func(mx MX) bool { return mx.Host == "" })
	if len(mxs) == 0 {
		// Only "." targets: a null MX. RFC 7505 §3 fixes its preference
		// at 0 and wants it alone; any such set means the same thing, as
		// nothing can be delivered.
		return nil, false, false, newError(name, ErrNullMX, "domain accepts no mail (null MX)", nil)
	}
	return mxs, false, ans.secure, nil
}

// hostResult is the outcome of resolving one exchanger.
type hostResult struct {
	addrs  []netip.Addr
	secure bool  // every address answer received was validated
	err    error // temporary cause; nil with no addrs means "definitely none"
	why    string
}

// addresses resolves every exchanger's AAAA and A records concurrently and
// keeps, in order, those with an address. With none left, the error is
// temporary if any failure was, permanent (ErrNoAddress) otherwise.
func (r *Resolver) addresses(ctx context.Context, server serverFunc, domain string, mxs []MX, implicit bool) ([]Host, error) {
	results := make([]hostResult, len(mxs))
	var wg sync.WaitGroup
	for i, mx := range mxs {
		switch {
		case isIPTarget(mx.Host):
			results[i] = hostResult{why: "MX target is an IP address, not a host name (RFC 5321 §5.1)"}
			continue
		case !isHostname(mx.Host):
			results[i] = hostResult{why: "MX target is not a valid host name"}
			continue
		}
		wg.Go(func() { results[i] = r.hostAddrs(ctx, server, mx.Host) })
	}
	wg.Wait()

	var hosts []Host
	var temp *hostResult
	for i, mx := range mxs {
		res := &results[i]
		if len(res.addrs) > 0 {
			hosts = append(hosts, Host{Name: mx.Host, Pref: mx.Pref, Addrs: res.addrs, Implicit: implicit, Secure: res.secure})
			continue
		}
		if res.err != nil && temp == nil {
			temp = res
		}
		if ctx.Err() != nil {
			continue // shutting down: not worth a line per host
		}
		r.logger().Warn("mail exchanger skipped", "component", "mxresolve",
			"domain", domain, "host", mx.Host, "reason", res.reason())
	}
	switch {
	case len(hosts) > 0:
		return hosts, nil
	case temp != nil:
		return nil, newError(domain, ErrTemporary, "no mail exchanger address could be resolved", temp.err)
	case implicit:
		return nil, newError(domain, ErrNoAddress, "domain has no MX and no address", nil)
	}
	return nil, newError(domain, ErrNoAddress, "no mail exchanger has an address: "+results[0].reason(), nil)
}

func (h *hostResult) reason() string {
	if h.err != nil {
		return h.err.Error()
	}
	return h.why
}

// hostAddrs asks AAAA and A for one host at once. One family failing
// temporarily does not matter when the other gives addresses.
func (r *Resolver) hostAddrs(ctx context.Context, server serverFunc, host string) hostResult {
	type famResult struct {
		ans answer
		err error
	}
	var v6, v4 famResult
	var wg sync.WaitGroup
	wg.Go(func() { v6.ans, v6.err = r.lookup(ctx, server, host, dns.TypeAAAA) })
	wg.Go(func() { v4.ans, v4.err = r.lookup(ctx, server, host, dns.TypeA) })
	wg.Wait()

	first, second := v6, v4
	if r.PreferIPv4 {
		first, second = v4, v6
	}
	addrs := appendAddrs(nil, first.ans.rrs)
	addrs = appendAddrs(addrs, second.ans.rrs)
	switch {
	case len(addrs) > 0:
		// A family that failed gave no address to connect to, so it
		// cannot make the ones used insecure; one that answered must
		// have been validated (RFC 7672 §2.2.2).
		secure := (v6.err != nil || v6.ans.secure) && (v4.err != nil || v4.ans.secure)
		return hostResult{addrs: addrs, secure: secure}
	case v6.err != nil:
		return hostResult{err: v6.err}
	case v4.err != nil:
		return hostResult{err: v4.err}
	case v6.ans.nxdomain || v4.ans.nxdomain:
		return hostResult{why: "host does not exist (NXDOMAIN)"}
	}
	return hostResult{why: "host has no AAAA or A record"}
}

// appendAddrs appends the addresses of A and AAAA records, skipping
// duplicates and the unspecified address, which no one listens on.
func appendAddrs(addrs []netip.Addr, rrs []dns.RR) []netip.Addr {
	for _, rr := range rrs {
		var a netip.Addr
		switch rr := rr.(type) {
		case *dns.A:
			a, _ = netip.AddrFromSlice(rr.A.To4())
		case *dns.AAAA:
			a, _ = netip.AddrFromSlice(rr.AAAA.To16())
		}
		if !a.IsValid() || a.IsUnspecified() || slices.Contains(addrs, a) {
			continue
		}
		addrs = append(addrs, a)
	}
	return addrs
}

// serverFunc returns the address of the DNS server to ask, or why there is
// none.
type serverFunc func() (string, error)

// server returns Server, or a function that reads /etc/resolv.conf once,
// when a query first needs it.
func (r *Resolver) server() serverFunc {
	if r.Server != "" {
		return func() (string, error) { return r.Server, nil }
	}
	return sync.OnceValues(func() (string, error) { return defaultServer("/etc/resolv.conf") })
}

func (r *Resolver) timeout() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return DefaultTimeout
}

func (r *Resolver) maxHosts() int {
	if r.MaxHosts > 0 {
		return r.MaxHosts
	}
	return DefaultMaxHosts
}

func (r *Resolver) shuffle() ShuffleFunc {
	if r.Shuffle != nil {
		return r.Shuffle
	}
	return rand.Shuffle
}

func (r *Resolver) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}
