package mxresolve_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/outbox-mta/outbox/mxresolve"
	"github.com/outbox-mta/outbox/mxresolve/dnstest"
)

// fakeClock is the Cache's clock in these tests: time moves only when a
// test advances it.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// cachedWorld is a DNS server, a Resolver with a Cache on a fake clock,
// and that clock.
type cachedWorld struct {
	srv   *dnstest.Server
	r     *mxresolve.Resolver
	cache *mxresolve.Cache
	clock *fakeClock
}

// soa is the zone apex of the cache tests: its SOA's own TTL is 3600 and
// its MINIMUM 60, so negative answers may be kept 60s (RFC 2308 §5).
const soa = "ttl.test. 3600 SOA ns.ttl.test. admin.ttl.test. 1 7200 900 1209600 60"

func newCachedWorld(t *testing.T, cache *mxresolve.Cache, records ...string) *cachedWorld {
	t.Helper()
	w := &cachedWorld{
		srv:   &dnstest.Server{Zone: dnstest.Zone(t, records...)},
		clock: &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	w.srv.Start(t)
	w.cache = cache
	w.cache.Now = w.clock.Now
	w.r = newResolver(w.srv)
	w.r.Cache = w.cache
	return w
}

// lookup runs one Lookup and returns its hosts, or the error text.
func (w *cachedWorld) lookup(t *testing.T, domain string) string {
	t.Helper()
	hosts, err := w.r.Lookup(context.Background(), domain)
	if err != nil {
		return err.Error()
	}
	return describe(hosts)
}

// TestCacheKeepsForTTL checks how long an answer is kept: its TTL (the
// least along a CNAME chain) bounded by MinTTL and MaxTTL. Each case looks
// up once, then again just before and at the expected expiry.
func TestCacheKeepsForTTL(t *testing.T) {
	tests := []struct {
		name    string
		records []string
		cache   *mxresolve.Cache
		want    time.Duration
	}{
		{"record TTL", []string{"d.ttl.test. 300 MX 10 mx.ttl.test."}, &mxresolve.Cache{}, 300 * time.Second},
		{"floor", []string{"d.ttl.test. 5 MX 10 mx.ttl.test."}, &mxresolve.Cache{MinTTL: time.Minute}, time.Minute},
		{"TTL 0 raised to the floor", []string{"d.ttl.test. 0 MX 10 mx.ttl.test."}, &mxresolve.Cache{MinTTL: 30 * time.Second}, 30 * time.Second},
		{"ceiling", []string{"d.ttl.test. 86400 MX 10 mx.ttl.test."}, &mxresolve.Cache{MaxTTL: time.Hour}, time.Hour},
		{"default ceiling", []string{"d.ttl.test. 86400 MX 10 mx.ttl.test."}, &mxresolve.Cache{}, mxresolve.DefaultCacheMaxTTL},
		{"least TTL of the records", []string{"d.ttl.test. 300 MX 10 mx.ttl.test.", "d.ttl.test. 120 MX 20 mx.ttl.test."}, &mxresolve.Cache{}, 120 * time.Second},
		{"least TTL along a CNAME chain", []string{"d.ttl.test. 10 CNAME real.ttl.test.", "real.ttl.test. 300 MX 10 mx.ttl.test."}, &mxresolve.Cache{}, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			records := append([]string{soa, "mx.ttl.test. 86400 A 127.0.0.2", "mx.ttl.test. 86400 AAAA ::1"}, tt.records...)
			w := newCachedWorld(t, tt.cache, records...)
			const want = "mx.ttl.test/10[::1,127.0.0.2]"
			steps := []struct {
				advance time.Duration
				queries int
			}{{0, 1}, {0, 1}, {tt.want - time.Second, 1}, {time.Second, 2}, {0, 2}}
			for i, s := range steps {
				w.clock.Advance(s.advance)
				if got := w.lookup(t, "d.ttl.test"); got != want {
					t.Fatalf("step %d: Lookup = %s, want %s", i, got, want)
				}
				if n := w.srv.Count("d.ttl.test", dns.TypeMX); n != s.queries {
					t.Fatalf("step %d (+%v): %d MX queries, want %d", i, s.advance, n, s.queries)
				}
			}
		})
	}
}

// TestCacheNegative checks that NXDOMAIN and NODATA are kept for
// min(SOA TTL, SOA MINIMUM) (RFC 2308 §5) within NegativeMinTTL and
// NegativeMaxTTL, and not at all without an SOA.
func TestCacheNegative(t *testing.T) {
	tests := []struct {
		name  string
		soa   string
		cache *mxresolve.Cache
		want  time.Duration // 0: not kept
	}{
		{"SOA MINIMUM", soa, &mxresolve.Cache{}, time.Minute},
		{"SOA TTL below MINIMUM", "ttl.test. 30 SOA ns.ttl.test. admin.ttl.test. 1 7200 900 1209600 600", &mxresolve.Cache{}, 30 * time.Second},
		{"negative floor", "ttl.test. 3600 SOA ns.ttl.test. admin.ttl.test. 1 7200 900 1209600 5", &mxresolve.Cache{NegativeMinTTL: 20 * time.Second}, 20 * time.Second},
		{"negative ceiling", "ttl.test. 86400 SOA ns.ttl.test. admin.ttl.test. 1 7200 900 1209600 86400", &mxresolve.Cache{NegativeMaxTTL: 5 * time.Minute}, 5 * time.Minute},
		{"default negative ceiling", "ttl.test. 86400 SOA ns.ttl.test. admin.ttl.test. 1 7200 900 1209600 86400", &mxresolve.Cache{}, mxresolve.DefaultCacheNegativeMaxTTL},
		{"no SOA", "", &mxresolve.Cache{MinTTL: time.Hour, NegativeMinTTL: time.Hour}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			records := []string{"nodata.ttl.test. 300 TXT \"no MX, no address\"", "bare.ttl.test. 300 MX 10 v4.ttl.test.", "v4.ttl.test. 300 A 127.0.0.2"}
			if tt.soa != "" {
				records = append(records, tt.soa)
			}
			w := newCachedWorld(t, tt.cache, records...)
			questions := []struct {
				domain, asked string
				qtype         uint16
				want          string
			}{
				{"gone.ttl.test", "gone.ttl.test", dns.TypeMX, "MX lookup for gone.ttl.test: domain does not exist (NXDOMAIN)"},
				{"nodata.ttl.test", "nodata.ttl.test", dns.TypeMX, "MX lookup for nodata.ttl.test: domain has no MX and no address"},
				{"bare.ttl.test", "v4.ttl.test", dns.TypeAAAA, "v4.ttl.test/10[127.0.0.2]"},
			}
			check := func(step string, wantQueries int) {
				t.Helper()
				for _, q := range questions {
					if got := w.lookup(t, q.domain); got != q.want {
						t.Fatalf("%s: Lookup(%s) = %s, want %s", step, q.domain, got, q.want)
					}
					if n := w.srv.Count(q.asked, q.qtype); n != wantQueries {
						t.Errorf("%s: %d %s queries for %s, want %d", step, n, dns.TypeToString[q.qtype], q.asked, wantQueries)
					}
				}
			}
			check("first", 1)
			if tt.want == 0 {
				check("again", 2)
				return
			}
			w.clock.Advance(tt.want - time.Second)
			check("before expiry", 1)
			w.clock.Advance(time.Second)
			check("at expiry", 2)
		})
	}
}

// TestCacheKeepsNoErrors: SERVFAIL and timeouts are never kept (RFC 2308
// §7 allows it for at most five minutes; the queue's retry schedule already
// spaces the next attempt), and one failing query does not poison the
// answers that did come.
func TestCacheKeepsNoErrors(t *testing.T) {
	w := newCachedWorld(t, &mxresolve.Cache{MinTTL: time.Hour, NegativeMinTTL: time.Hour},
		soa,
		"flaky.ttl.test. 300 MX 10 mx.flaky.ttl.test.",
		"mx.flaky.ttl.test. 300 A 127.0.0.2",
		"mx.flaky.ttl.test. 300 AAAA ::1",
	)
	for _, b := range []dnstest.Behavior{dnstest.ServFail, dnstest.Refused, dnstest.Drop} {
		w.r.Timeout = 2 * time.Second
		if b == dnstest.Drop {
			w.r.Timeout = 200 * time.Millisecond
		}
		w.srv.Set("flaky.ttl.test", b)
		before := w.srv.Count("flaky.ttl.test", dns.TypeMX)
		for range 2 {
			_, err := w.r.Lookup(context.Background(), "flaky.ttl.test")
			if !errors.Is(err, mxresolve.ErrTemporary) {
				t.Fatalf("behavior %d: err = %v, want ErrTemporary", b, err)
			}
		}
		if n := w.srv.Count("flaky.ttl.test", dns.TypeMX) - before; n != 2 {
			t.Errorf("behavior %d: %d MX queries for two lookups, want 2 (a failure is not kept)", b, n)
		}
	}
	w.r.Timeout = 2 * time.Second
	w.srv.Set("flaky.ttl.test", dnstest.Answer)
	w.srv.Set("mx.flaky.ttl.test", dnstest.ServFail)
	if got, err := w.r.Lookup(context.Background(), "flaky.ttl.test"); err == nil {
		t.Fatalf("with the host SERVFAIL: Lookup = %s, want an error", describe(got))
	}
	w.srv.Set("mx.flaky.ttl.test", dnstest.Answer)
	const want = "mx.flaky.ttl.test/10[::1,127.0.0.2]"
	if got := w.lookup(t, "flaky.ttl.test"); got != want {
		t.Fatalf("once the host answers: Lookup = %s, want %s", got, want)
	}
	// The MX answer of the failed lookup was kept; the failed address
	// queries were asked again.
	if n := w.srv.Count("flaky.ttl.test", dns.TypeMX); n != 7 {
		t.Errorf("%d MX queries, want 7 (6 failed, then 1 kept for both later lookups)", n)
	}
	if n := w.srv.Count("mx.flaky.ttl.test", dns.TypeA); n != 2 {
		t.Errorf("%d A queries for the host, want 2", n)
	}
	if got := w.lookup(t, "flaky.ttl.test"); got != want || w.srv.Count("mx.flaky.ttl.test", dns.TypeA) != 2 {
		t.Errorf("third lookup: %s with %d A queries, want %s from the cache", got, w.srv.Count("mx.flaky.ttl.test", dns.TypeA), want)
	}
}

// TestCacheSizeEvictsLeastRecentlyUsed: with room for two domains' worth of
// entries (MX, A and AAAA each), a third evicts the least recently used
// one, not the oldest.
func TestCacheSizeEvictsLeastRecentlyUsed(t *testing.T) {
	var records []string
	for _, d := range []string{"a", "b", "c"} {
		records = append(records,
			fmt.Sprintf("%s.ttl.test. 300 MX 10 mx.%s.ttl.test.", d, d),
			fmt.Sprintf("mx.%s.ttl.test. 300 A 127.0.0.2", d),
			fmt.Sprintf("mx.%s.ttl.test. 300 AAAA ::1", d))
	}
	w := newCachedWorld(t, &mxresolve.Cache{Size: 6}, records...)
	for _, d := range []string{"a", "b", "a", "c", "a", "b"} {
		w.lookup(t, d+".ttl.test")
		if n := w.cache.Stats().Entries; n > 6 {
			t.Fatalf("after %s: %d entries, want at most 6", d, n)
		}
	}
	// a was used after b, so c's entries took b's places.
	for d, want := range map[string]int{"a": 1, "b": 2, "c": 1} {
		if n := w.srv.Count(d+".ttl.test", dns.TypeMX); n != want {
			t.Errorf("%s.ttl.test: %d MX queries, want %d", d, n, want)
		}
	}
	if s := w.cache.Stats(); s.Entries != 6 || s.Misses != 12 || s.Hits != 6 {
		t.Errorf("Stats = %+v, want 6 entries, 12 misses (4 domain lookups x 3 queries), 6 hits", s)
	}
}

// TestCacheCollapsesConcurrentLookups: lookups of one domain that start
// while its MX query is in flight share that query, and its answer.
func TestCacheCollapsesConcurrentLookups(t *testing.T) {
	w := newCachedWorld(t, &mxresolve.Cache{}, soa,
		"burst.ttl.test. 300 MX 10 mx.burst.ttl.test.",
		"mx.burst.ttl.test. 300 A 127.0.0.2",
	)
	release := w.srv.Hold(t, "burst.ttl.test")
	const n = 50
	results := make(chan string, n)
	for range n {
		go func() { results <- w.lookup(t, "burst.ttl.test") }()
	}
	// Every lookup has found the query in flight (or started it).
	waitFor(t, func() bool { s := w.cache.Stats(); return s.Hits+s.Misses == n })
	release()
	for range n {
		if got := <-results; got != "mx.burst.ttl.test/10[127.0.0.2]" {
			t.Errorf("Lookup = %s", got)
		}
	}
	for _, q := range []uint16{dns.TypeMX, dns.TypeA, dns.TypeAAAA} {
		name := "mx.burst.ttl.test"
		if q == dns.TypeMX {
			name = "burst.ttl.test"
		}
		if c := w.srv.Count(name, q); c != 1 {
			t.Errorf("%d %s queries for %s, want 1", c, dns.TypeToString[q], name)
		}
	}
}

// TestCacheWaiterCancel: a caller that gives up leaves the shared query to
// the others; when every caller has given up, the query is abandoned and
// the next lookup asks again.
func TestCacheWaiterCancel(t *testing.T) {
	w := newCachedWorld(t, &mxresolve.Cache{}, soa,
		"slow.ttl.test. 300 MX 10 mx.slow.ttl.test.",
		"mx.slow.ttl.test. 300 A 127.0.0.2",
	)
	w.r.Timeout = time.Minute
	release := w.srv.Hold(t, "slow.ttl.test")
	ctx1, cancel1 := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { _, err := w.r.Lookup(ctx1, "slow.ttl.test"); first <- err }()
	second := make(chan string, 1)
	go func() { second <- w.lookup(t, "slow.ttl.test") }()
	waitFor(t, func() bool { s := w.cache.Stats(); return s.Hits+s.Misses == 2 })

	cancel1()
	if err := <-first; !errors.Is(err, context.Canceled) || !errors.Is(err, mxresolve.ErrTemporary) {
		t.Errorf("cancelled lookup: err = %v, want ErrTemporary and context.Canceled", err)
	}
	release()
	if got := <-second; got != "mx.slow.ttl.test/10[127.0.0.2]" {
		t.Errorf("remaining lookup = %s", got)
	}

	// Every caller gone: a new lookup starts a fresh query.
	release = w.srv.Hold(t, "gone.ttl.test")
	ctx2, cancel2 := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := w.r.Lookup(ctx2, "gone.ttl.test"); done <- err }()
	waitFor(t, func() bool { return w.srv.Count("gone.ttl.test", dns.TypeMX) == 1 })
	cancel2()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	release()
	if got := w.lookup(t, "gone.ttl.test"); got != "MX lookup for gone.ttl.test: domain does not exist (NXDOMAIN)" {
		t.Errorf("after the abandoned query: %s", got)
	}
	if n := w.srv.Count("gone.ttl.test", dns.TypeMX); n != 2 {
		t.Errorf("%d MX queries, want 2 (the abandoned one's verdict was not kept)", n)
	}
}

// Cached answers are still shuffled per lookup (RFC 5321 §5.1), and
// nothing a lookup returns aliases the cache.
func TestCacheStillShuffles(t *testing.T) {
	w := newCachedWorld(t, &mxresolve.Cache{}, zone...)
	w.r.Shuffle = nil // math/rand/v2, safe for concurrent use
	seen := map[string]int{}
	for i := 0; i < 200 && len(seen) < 2; i++ {
		hosts, err := w.r.Lookup(context.Background(), "equal.test")
		if err != nil {
			t.Fatal(err)
		}
		seen[hosts[1].Name]++
		hosts[0].Addrs[0] = hosts[1].Addrs[0] // must not reach the cache
	}
	if len(seen) != 2 {
		t.Errorf("orders seen: %v, want both", seen)
	}
	if n := w.srv.Count("equal.test", dns.TypeMX); n != 1 {
		t.Errorf("%d MX queries, want 1", n)
	}
	hosts, _ := w.r.Lookup(context.Background(), "equal.test")
	if got := describe(hosts[:1]); got != "best.equal.test/5[127.0.0.4]" {
		t.Errorf("first host = %s after callers changed their copies", got)
	}
}
