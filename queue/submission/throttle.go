package submission

import (
	"net/netip"
	"sync"
	"time"
)

// throttle counts authentication failures per client address in a fixed
// window: after max failures, further attempts from that address are refused
// (454 4.7.0) until the window that began with its first failure ends. This
// bounds password guessing per address without sleeping in the session.
type throttle struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu   sync.Mutex
	seen map[netip.Addr]failures
}

type failures struct {
	n     int
	start time.Time
}

// sweepAt is the table size at which expired entries are dropped, so a
// stream of single failures from many addresses cannot grow it forever.
const sweepAt = 1024

func newThrottle(max int, window time.Duration, now func() time.Time) *throttle {
	return &throttle{max: max, window: window, now: now, seen: make(map[netip.Addr]failures)}
}

// blocked reports whether ip has used up its failures in the current window.
func (t *throttle) blocked(ip netip.Addr) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.seen[ip]
	return ok && f.n >= t.max && t.now().Sub(f.start) < t.window
}

// fail records one failure for ip.
func (t *throttle) fail(ip netip.Addr) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if len(t.seen) >= sweepAt {
		for a, f := range t.seen {
			if now.Sub(f.start) >= t.window {
				delete(t.seen, a)
			}
		}
	}
	f, ok := t.seen[ip]
	if !ok || now.Sub(f.start) >= t.window {
		f = failures{start: now}
	}
	f.n++
	t.seen[ip] = f
}
