package mtasts

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery/smtptest"
	"github.com/outbox-mta/outbox/delivery/tlspolicy"
)

const enforcePolicy = "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\nmax_age: 86400\r\n"

// fakeTXT answers TXT lookups from a map; err, when set, fails them.
type fakeTXT struct {
	mu  sync.Mutex
	txt map[string][]string
	err error
}

func (f *fakeTXT) LookupTXT(_ context.Context, name string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.txt[name], f.err
}

// LookupHost resolves every name to the loopback address.
func (f *fakeTXT) LookupHost(context.Context, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
}

func (f *fakeTXT) set(name string, txt ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.txt[name] = txt
}

// policyServer is an HTTPS server for mta-sts.example.test with a test CA.
type policyServer struct {
	srv     *httptest.Server
	ca      *smtptest.CA
	fetches atomic.Int32
	mu      sync.Mutex
	handler http.HandlerFunc
}

func newPolicyServer(t *testing.T) *policyServer {
	ps := &policyServer{ca: smtptest.NewCA(t)}
	ps.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ps.fetches.Add(1)
		ps.mu.Lock()
		h := ps.handler
		ps.mu.Unlock()
		h(w, r)
	}))
	ps.srv.TLS = &tls.Config{Certificates: []tls.Certificate{ps.ca.Issue(t, "mta-sts.example.test")}}
	ps.srv.StartTLS()
	t.Cleanup(ps.srv.Close)
	ps.serve(enforcePolicy)
	return ps
}

func (ps *policyServer) serve(policy string) {
	ps.setHandler(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/mta-sts.txt" || r.Host != "mta-sts.example.test" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(policy))
	})
}

func (ps *policyServer) setHandler(h http.HandlerFunc) {
	ps.mu.Lock()
	ps.handler = h
	ps.mu.Unlock()
}

// memCache is an in-memory Cache.
type memCache struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (c *memCache) MTASTSPolicy(_ context.Context, d string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[d], nil
}

func (c *memCache) PutMTASTSPolicy(_ context.Context, d string, v []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[d] = v
	return nil
}

type fixture struct {
	src   *Source
	txt   *fakeTXT
	ps    *policyServer
	cache *memCache
	now   time.Time
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{txt: &fakeTXT{txt: map[string][]string{"_mta-sts.example.test": {"v=STSv1; id=one;"}}},
		ps: newPolicyServer(t), cache: &memCache{m: map[string][]byte{}}, now: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	addr := f.ps.srv.Listener.Addr().String()
	f.src = New(Options{
		Resolver: f.txt, Cache: f.cache, RootCAs: f.ps.ca.Pool, Timeout: 5 * time.Second,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		Now: func() time.Time { return f.now },
	})
	t.Cleanup(f.src.Close)
	return f
}

func (f *fixture) policy(t *testing.T) tlspolicy.Policy {
	t.Helper()
	p, err := f.src.Policy(context.Background(), "example.test")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSourceFetchAndCache(t *testing.T) {
	f := newFixture(t)
	p := f.policy(t)
	if p.Type != tlspolicy.TypeMTASTS || p.Mode != tlspolicy.ModeEnforce || p.ID != "one" || p.Domain != "example.test" {
		t.Fatalf("policy %+v", p)
	}
	if _, err := p.Hosts.Host(context.Background(), "mx1.example.test"); err != nil {
		t.Fatalf("matching MX: %v", err)
	}
	if _, err := p.Hosts.Host(context.Background(), "mx2.example.test"); tlspolicy.AsFailure(err) == nil ||
		tlspolicy.AsFailure(err).Result != tlspolicy.ResultValidationFailure {
		t.Fatalf("mismatching MX: %v", err)
	}
	// Same id, within half of max_age: the cache answers.
	f.now = f.now.Add(11 * time.Hour)
	f.policy(t)
	if n := f.ps.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1 (cached)", n)
	}
	// Past half of max_age: refreshed before it expires.
	f.now = f.now.Add(2 * time.Hour)
	f.policy(t)
	if n := f.ps.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2 (refresh)", n)
	}
	// A new id: fetched again at once, and the new policy applies.
	f.ps.serve(strings.Replace(enforcePolicy, "enforce", "testing", 1))
	f.txt.set("_mta-sts.example.test", "v=STSv1; id=two;")
	if p := f.policy(t); p.Mode != tlspolicy.ModeTesting || p.ID != "two" || f.ps.fetches.Load() != 3 {
		t.Fatalf("after id change: %+v, %d fetches", p, f.ps.fetches.Load())
	}
}

func TestSourceFetchFailureKeepsCachedPolicy(t *testing.T) {
	failures := map[string]http.HandlerFunc{
		"status 500": func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", 500) },
		"redirect": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://mta-sts.example.test/other", http.StatusFound)
		},
		"media type": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte(enforcePolicy))
		},
		"too large": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte(enforcePolicy + strings.Repeat("x: y\n", MaxPolicySize/5+1)))
		},
		"invalid policy": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte("version: STSv1\nmode: enforce\n"))
		},
	}
	for name, h := range failures {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			f.policy(t) // cached: id one, enforce
			f.ps.setHandler(h)
			f.txt.set("_mta-sts.example.test", "v=STSv1; id=two;")
			p := f.policy(t)
			if p.Type != tlspolicy.TypeMTASTS || p.Mode != tlspolicy.ModeEnforce || p.ID != "one" || !strings.Contains(p.Note, "fetch failed") {
				t.Fatalf("fetch failure downgraded the cached policy: %+v", p)
			}
			// TXT gone: the cached policy still holds until it expires.
			f.txt.set("_mta-sts.example.test")
			if p := f.policy(t); p.Type != tlspolicy.TypeMTASTS {
				t.Fatalf("TXT removed: %+v", p)
			}
			// Expired and nothing fetched: no policy, the failure recorded.
			f.txt.set("_mta-sts.example.test", "v=STSv1; id=three;")
			f.now = f.now.Add(25 * time.Hour)
			p = f.policy(t)
			if p.Type != tlspolicy.TypeNone || p.Failure == nil {
				t.Fatalf("expired: %+v", p)
			}
			want := tlspolicy.ResultSTSPolicyFetchError
			if name == "invalid policy" {
				want = tlspolicy.ResultSTSPolicyInvalid
			}
			if p.Failure.Result != want {
				t.Errorf("failure %v, want %v", p.Failure.Result, want)
			}
		})
	}
}

func TestSourceNoRecord(t *testing.T) {
	f := newFixture(t)
	f.txt.set("_mta-sts.example.test", "v=spf1 -all")
	if p := f.policy(t); p.Type != tlspolicy.TypeNone || f.ps.fetches.Load() != 0 {
		t.Fatalf("no record: %+v, %d fetches", p, f.ps.fetches.Load())
	}
}

// The policy server's certificate must be valid for mta-sts.DOMAIN.
func TestSourceUntrustedPolicyServer(t *testing.T) {
	f := newFixture(t)
	other := smtptest.NewCA(t)
	f.src = New(Options{Resolver: f.txt, RootCAs: other.Pool, Now: func() time.Time { return f.now },
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, f.ps.srv.Listener.Addr().String())
		}})
	defer f.src.Close()
	if p := f.policy(t); p.Type != tlspolicy.TypeNone || p.Failure == nil || p.Failure.Result != tlspolicy.ResultSTSPolicyFetchError {
		t.Fatalf("untrusted server: %+v", p)
	}
}

// Without Dial, the policy server is found through the Resolver, at Port.
func TestSourceDialsThroughResolver(t *testing.T) {
	f := newFixture(t)
	_, port, _ := net.SplitHostPort(f.ps.srv.Listener.Addr().String())
	n, _ := strconv.Atoi(port)
	f.src = New(Options{Resolver: f.txt, RootCAs: f.ps.ca.Pool, Port: n, Now: func() time.Time { return f.now }})
	defer f.src.Close()
	if p := f.policy(t); p.Type != tlspolicy.TypeMTASTS || f.ps.fetches.Load() != 1 {
		t.Fatalf("policy %+v, %d fetches", p, f.ps.fetches.Load())
	}
}
