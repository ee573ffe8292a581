package mxresolve

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// Defaults for the zero values of Cache's fields.
const (
	DefaultCacheSize           = 10000
	DefaultCacheMaxTTL         = time.Hour
	DefaultCacheNegativeMaxTTL = 15 * time.Minute
)

// Cache keeps the verdicts of a Resolver's queries (MX, A, AAAA) for their
// TTL, so that a burst of mail to one domain costs one set of queries. Set
// it as Resolver.Cache; one Cache serves one Resolver (entries are keyed by
// name and type, not by server). The zero value is ready to use; a Cache is
// safe for concurrent use and must not be copied after first use. See the
// package documentation for what is kept and for how long.
type Cache struct {
	// Size is the most entries (one per name and type) kept; the least
	// recently used goes first. Zero means DefaultCacheSize.
	Size int
	// MinTTL and MaxTTL bound how long an answer with records is kept,
	// whatever its TTL says. Zero MinTTL: no floor; zero MaxTTL:
	// DefaultCacheMaxTTL.
	MinTTL, MaxTTL time.Duration
	// NegativeMinTTL and NegativeMaxTTL bound how long an NXDOMAIN or
	// NODATA verdict is kept (RFC 2308 §5 asks for a configurable upper
	// bound). Zero NegativeMinTTL: no floor; zero NegativeMaxTTL:
	// DefaultCacheNegativeMaxTTL.
	NegativeMinTTL, NegativeMaxTTL time.Duration
	// Now is the clock that ages entries. nil means time.Now.
	Now func() time.Time

	mu      sync.Mutex
	entries map[cacheKey]*list.Element // of *cacheEntry
	lru     list.List                  // most recently used at the front
	flights map[cacheKey]*flight
	hits    uint64
	misses  uint64
}

// CacheStats are a Cache's counters since it was made.
type CacheStats struct {
	Hits    uint64 // lookups answered without a query of their own: from the cache, or by a query in flight
	Misses  uint64 // lookups that sent a query
	Entries int    // entries held now, expired ones not yet dropped included
}

// cacheKey is one question: a fully qualified lower-case name and a type.
type cacheKey struct {
	name  string
	qtype uint16
}

type cacheEntry struct {
	key     cacheKey
	ans     answer
	expires time.Time
}

// flight is one query in progress that every concurrent lookup of the
// same question waits for. It runs on a context of its own, cancelled
// only when every waiter has given up, so one caller's cancellation does
// not fail the others.
type flight struct {
	done    chan struct{} // closed when ans and err are set
	ans     answer
	err     error
	waiters int // guarded by Cache.mu
	cancel  context.CancelFunc
}

// Stats returns the counters now.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{Hits: c.hits, Misses: c.misses, Entries: len(c.entries)}
}

// lookup answers k from the cache, from a query in flight for k, or by
// running fetch, whose verdict it then keeps. Errors are returned to the
// waiters of that one query and never kept.
func (c *Cache) lookup(ctx context.Context, k cacheKey, fetch func(context.Context) (answer, error)) (answer, error) {
	c.mu.Lock()
	if a, ok := c.get(k); ok {
		c.hits++
		c.mu.Unlock()
		return a, nil
	}
	f, joined := c.flights[k]
	if joined {
		f.waiters++
		c.hits++
	} else {
		c.misses++
		// Detached from ctx (keeping its values): the query belongs to
		// all its waiters. Timeout still bounds each exchange.
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &flight{done: make(chan struct{}), waiters: 1, cancel: cancel}
		if c.flights == nil {
			c.flights = make(map[cacheKey]*flight)
		}
		c.flights[k] = f
		go c.run(fctx, k, f, fetch)
	}
	c.mu.Unlock()

	select {
	case <-f.done:
		return f.ans, f.err
	case <-ctx.Done():
		c.mu.Lock()
		if f.waiters--; f.waiters == 0 {
			// Nobody wants the answer any more: stop the query, and
			// let a later lookup start a fresh one.
			f.cancel()
			if c.flights[k] == f {
				delete(c.flights, k)
			}
		}
		c.mu.Unlock()
		return answer{}, context.Cause(ctx)
	}
}

// run performs the query of f and publishes its outcome.
func (c *Cache) run(ctx context.Context, k cacheKey, f *flight, fetch func(context.Context) (answer, error)) {
	ans, err := fetch(ctx)
	c.mu.Lock()
	if c.flights[k] == f {
		delete(c.flights, k)
	}
	f.ans, f.err = ans, err
	if err == nil && ctx.Err() == nil {
		if ttl, ok := c.keepFor(ans); ok {
			c.put(k, ans, c.now().Add(ttl))
		}
	}
	c.mu.Unlock()
	f.cancel()
	close(f.done)
}

// keepFor returns how long ans may be kept, within the configured bounds,
// and whether it may be kept at all.
func (c *Cache) keepFor(ans answer) (time.Duration, bool) {
	if !ans.negative() {
		return clamp(ans.ttl, c.MinTTL, orDefault(c.MaxTTL, DefaultCacheMaxTTL)), true
	}
	if ans.noTTL {
		return 0, false
	}
	return clamp(ans.ttl, c.NegativeMinTTL, orDefault(c.NegativeMaxTTL, DefaultCacheNegativeMaxTTL)), true
}

// get returns the live entry for k, dropping it when it has expired. The
// caller holds c.mu.
func (c *Cache) get(k cacheKey) (answer, bool) {
	el, ok := c.entries[k]
	if !ok {
		return answer{}, false
	}
	e := el.Value.(*cacheEntry)
	if !c.now().Before(e.expires) {
		c.lru.Remove(el)
		delete(c.entries, k)
		return answer{}, false
	}
	c.lru.MoveToFront(el)
	return e.ans, true
}

// put stores ans for k until expires, evicting the least recently used
// entries beyond Size. The caller holds c.mu.
func (c *Cache) put(k cacheKey, ans answer, expires time.Time) {
	if c.entries == nil {
		c.entries = make(map[cacheKey]*list.Element)
	}
	if el, ok := c.entries[k]; ok {
		e := el.Value.(*cacheEntry)
		e.ans, e.expires = ans, expires
		c.lru.MoveToFront(el)
		return
	}
	c.entries[k] = c.lru.PushFront(&cacheEntry{key: k, ans: ans, expires: expires})
	for len(c.entries) > orDefault(c.Size, DefaultCacheSize) {
		last := c.lru.Back()
		c.lru.Remove(last)
		delete(c.entries, last.Value.(*cacheEntry).key)
	}
}

func (c *Cache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// clamp bounds d to [lo, hi]; a floor above the ceiling yields the ceiling.
func clamp(d, lo, hi time.Duration) time.Duration {
	return min(max(d, lo), hi)
}

func orDefault[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}
