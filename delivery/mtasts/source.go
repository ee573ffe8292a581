package mtasts

import (
	"cmp"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/outbox-mta/outbox/delivery/tlspolicy"
)

// Resolver looks up TXT records and the addresses of policy servers, so
// that MTA-STS uses the same DNS as delivery; *mxresolve.Resolver
// satisfies it.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupHost(ctx context.Context, name string) ([]netip.Addr, error)
}

// Cache keeps fetched policies across restarts (the spool). Values are
// opaque to it; a domain without one returns nil and no error.
type Cache interface {
	MTASTSPolicy(ctx context.Context, domain string) ([]byte, error)
	PutMTASTSPolicy(ctx context.Context, domain string, v []byte) error
}

// Options configure New.
type Options struct {
	Resolver Resolver // required
	Cache    Cache    // nil: policies live only as long as the Source
	// RootCAs verifies the policy servers; nil means the system roots.
	RootCAs *x509.CertPool
	// Dial opens the TCP connections of policy fetches; nil: the
	// addresses of Resolver.LookupHost, in order, at Port. Unit tests
	// redirect mta-sts.DOMAIN:443 to their own server with it.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Port is the policy servers' HTTPS port; default 443 (RFC 8461 §3.3).
	// Only tests change it.
	Port int
	// Timeout bounds one policy fetch; default DefaultTimeout.
	Timeout time.Duration
	Now     func() time.Time // default time.Now
	Logger  *slog.Logger     // default slog.Default()
}

// Source is the MTA-STS tlspolicy.Source. It is safe for concurrent use.
type Source struct {
	res   Resolver
	cache Cache
	fetch *fetcher
	now   func() time.Time
	log   *slog.Logger

	mu     sync.Mutex
	flight map[string]*flight // fetches in progress, by domain
	memory map[string][]byte  // policies when Cache is nil
}

var _ tlspolicy.Source = (*Source)(nil)

// flight is one policy lookup in progress; concurrent callers for the same
// domain wait for it instead of fetching again.
type flight struct {
	done chan struct{}
	res  Result
}

// New returns a Source.
func New(o Options) *Source {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Dial == nil {
		o.Dial = resolverDial(o.Resolver, cmp.Or(o.Port, 443))
	}
	return &Source{
		res: o.Resolver, cache: o.Cache, fetch: newFetcher(o.RootCAs, o.Dial, o.Timeout),
		now: o.Now, log: o.Logger.With("component", "mta-sts"),
		flight: map[string]*flight{}, memory: map[string][]byte{},
	}
}

// Close releases the idle connections of policy fetches.
func (s *Source) Close() { s.fetch.close() }

// Result is what Lookup found for a domain.
type Result struct {
	Domain  string
	Policy  *Policy // nil: no policy in force
	ID      string  // the id of the policy in force
	Fetched time.Time
	Cached  bool   // the policy in force came from the cache
	Note    string // what happened ("policy fetch failed, cached policy still in force: ...")
	// Failure is a failure to get a policy that left none in force.
	Failure *tlspolicy.Failure
}

// entry is a cached policy.
type entry struct {
	ID      string    `json:"id"`
	Fetched time.Time `json:"fetched"`
	Text    string    `json:"policy"`
	policy  *Policy
}

// valid reports whether e is still in force at now (RFC 8461 §5.1: until
// max_age after it was fetched).
func (e *entry) valid(now time.Time) bool {
	return e != nil && e.policy != nil && now.Before(e.Fetched.Add(e.policy.MaxAge))
}

// fresh reports whether e needs no refresh yet: less than half of its
// max_age has passed, so it is fetched again well before it expires.
func (e *entry) fresh(now time.Time) bool {
	return e.valid(now) && now.Before(e.Fetched.Add(e.policy.MaxAge/2))
}

// Policy implements tlspolicy.Source.
func (s *Source) Policy(ctx context.Context, domain string) (tlspolicy.Policy, error) {
	r := s.Lookup(ctx, domain)
	if r.Policy == nil || r.Policy.Mode == ModeNone {
		return tlspolicy.Policy{Note: r.Note, Failure: r.Failure}, nil
	}
	mode := tlspolicy.ModeEnforce
	if r.Policy.Mode == ModeTesting {
		mode = tlspolicy.ModeTesting
	}
	return tlspolicy.Policy{Type: tlspolicy.TypeMTASTS, Mode: mode, Domain: r.Domain, ID: r.ID,
		Hosts: hosts{r.Policy}, Note: r.Note, Strings: r.Policy.lines(), MXHosts: r.Policy.MX}, nil
}

// lines is the policy in its text form, one line per element, as RFC 8460
// §4.4 gives an MTA-STS policy in a TLS report's policy-string.
func (p *Policy) lines() []string {
	out := []string{"version: STSv1", "mode: " + string(p.Mode)}
	for _, mx := range p.MX {
		out = append(out, "mx: "+mx)
	}
	return append(out, "max_age: "+strconv.Itoa(int(p.MaxAge/time.Second)))
}

// hosts is the HostChecker of a policy.
type hosts struct{ p *Policy }

// Host implements tlspolicy.HostChecker: RFC 8461 §4.1 (the name matches
// an mx pattern) and §4.2 (a certificate valid for it under WebPKI, which
// delivery checks against its roots).
func (h hosts) Host(_ context.Context, mx string) (tlspolicy.Host, error) {
	if !h.p.Matches(mx) {
		return tlspolicy.Host{}, &tlspolicy.Failure{Result: tlspolicy.ResultValidationFailure,
			Detail: "MX host " + mx + " matches none of the MTA-STS policy's mx patterns (" + strings.Join(h.p.MX, ", ") + ")"}
	}
	return tlspolicy.Host{RequireTLS: true, VerifiedBy: tlspolicy.VerifiedMTASTS}, nil
}

// Lookup finds the policy in force for domain (see the package
// documentation). Concurrent lookups of one domain share one.
func (s *Source) Lookup(ctx context.Context, domain string) Result {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	s.mu.Lock()
	if f, ok := s.flight[domain]; ok {
		s.mu.Unlock()
		select {
		case <-f.done:
			return f.res
		case <-ctx.Done():
			return Result{Domain: domain, Note: "MTA-STS lookup abandoned: " + ctx.Err().Error()}
		}
	}
	f := &flight{done: make(chan struct{})}
	s.flight[domain] = f
	s.mu.Unlock()

	f.res = s.lookup(ctx, domain)
	s.mu.Lock()
	delete(s.flight, domain)
	s.mu.Unlock()
	close(f.done)
	return f.res
}

// lookup is Lookup without the sharing.
func (s *Source) lookup(ctx context.Context, domain string) Result {
	now := s.now()
	cached := s.load(ctx, domain)
	id, err := s.record(ctx, domain)
	useCached := func(note string) Result {
		if !cached.valid(now) {
			return Result{Domain: domain, Note: note}
		}
		if note != "" {
			note += "; cached policy (id " + cached.ID + ") still in force"
		}
		return Result{Domain: domain, Policy: cached.policy, ID: cached.ID, Fetched: cached.Fetched, Cached: true, Note: note}
	}
	switch {
	case err != nil:
		// RFC 8461 §5.1: without a usable record, a cached policy stays
		// in force until it expires.
		return useCached("_mta-sts TXT lookup failed: " + err.Error())
	case id == "":
		return useCached("")
	case cached.fresh(now) && cached.ID == id:
		return useCached("")
	}
	text, err := s.fetch.fetch(ctx, domain)
	rt := tlspolicy.ResultSTSPolicyFetchError
	var p *Policy
	if err == nil {
		p, err = ParsePolicy(text)
		rt = tlspolicy.ResultSTSPolicyInvalid
	}
	if err != nil {
		s.log.Warn("MTA-STS policy fetch failed", "domain", domain, "id", id, "err", err)
		r := useCached("policy fetch failed: " + err.Error())
		if r.Policy == nil {
			r.Failure = &tlspolicy.Failure{Result: rt, Detail: "MTA-STS policy of " + domain, Err: err}
		}
		return r
	}
	e := &entry{ID: id, Fetched: now, Text: text, policy: p}
	s.save(ctx, domain, e)
	return Result{Domain: domain, Policy: p, ID: id, Fetched: now}
}

// record returns the id of domain's _mta-sts TXT record, "" when there is
// none. RFC 8461 §3.1: more than one STSv1 record is as good as none.
func (s *Source) record(ctx context.Context, domain string) (string, error) {
	txts, err := s.res.LookupTXT(ctx, "_mta-sts."+domain)
	if err != nil {
		return "", err
	}
	var ids []string
	for _, t := range txts {
		id, ok, err := ParseRecord(t)
		if !ok {
			continue
		}
		if err != nil {
			return "", err
		}
		ids = append(ids, id)
	}
	switch len(ids) {
	case 0:
		return "", nil
	case 1:
		return ids[0], nil
	}
	return "", fmt.Errorf("%d STSv1 records at _mta-sts.%s", len(ids), domain)
}

// load returns the cached entry of domain, nil when none (or unreadable).
func (s *Source) load(ctx context.Context, domain string) *entry {
	var b []byte
	if s.cache != nil {
		var err error
		if b, err = s.cache.MTASTSPolicy(ctx, domain); err != nil {
			s.log.Warn("cannot read the cached MTA-STS policy", "domain", domain, "err", err)
			return nil
		}
	} else {
		s.mu.Lock()
		b = s.memory[domain]
		s.mu.Unlock()
	}
	if b == nil {
		return nil
	}
	e := &entry{}
	err := json.Unmarshal(b, e)
	if err == nil {
		e.policy, err = ParsePolicy(e.Text)
	}
	if err != nil {
		s.log.Warn("cached MTA-STS policy unreadable, ignored", "domain", domain, "err", err)
		return nil
	}
	return e
}

// save caches e for domain.
func (s *Source) save(ctx context.Context, domain string, e *entry) {
	b, err := json.Marshal(e)
	if err != nil {
		return // cannot happen: strings and a time
	}
	if s.cache == nil {
		s.mu.Lock()
		s.memory[domain] = b
		s.mu.Unlock()
		return
	}
	if err := s.cache.PutMTASTSPolicy(context.WithoutCancel(ctx), domain, b); err != nil && !errors.Is(err, context.Canceled) {
		s.log.Warn("cannot cache the MTA-STS policy", "domain", domain, "err", err)
	}
}

// resolverDial dials a policy server at the addresses res gives for its
// name, in order, on port.
func resolverDial(res Resolver, port int) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		addrs, err := res.LookupHost(ctx, host)
		if err != nil {
			return nil, err
		}
		var d net.Dialer
		var errs []error
		for _, a := range addrs {
			c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(a.String(), strconv.Itoa(port)))
			if err == nil {
				return c, nil
			}
			errs = append(errs, err)
		}
		return nil, errors.Join(errs...)
	}
}
