package submission

import (
	"net/netip"
	"sync"
	"time"
)

// throttle counts authentication attempts per client address in a fixed
// window: at most max passwords are checked per address per window, however
// many connections ask at once. An attempt reserves its place before the
// (slow, ~75 ms) bcrypt compare and gives it back only if the credentials
// were right, so parallel guesses cannot all pass the check before any of
// them is counted. Further attempts are refused (454 4.7.0) until the window
// that began with the first reservation ends. This bounds password guessing
// per address without sleeping in the session.
type throttle struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu   sync.Mutex
	seen map[netip.Addr]failures
}

type failures struct {
	n     int // failures and attempts in progress
	start time.Time
}

// sweepAt is the table size at which expired entries are dropped, so a
// stream of single failures from many addresses cannot grow it forever.
const sweepAt = 1024

func newThrottle(max int, window time.Duration, now func() time.Time) *throttle {
	return &throttle{max: max, window: window, now: now, seen: make(map[netip.Addr]failures)}
}

// blocked reports whether ip has used up its attempts in the current window.
func (t *throttle) blocked(ip netip.Addr) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.seen[ip]
	return ok && f.n >= t.max && t.now().Sub(f.start) < t.window
}

// reserve counts one attempt for ip, as a failure until refund says
// otherwise; false (nothing counted) when ip has used up its attempts.
func (t *throttle) reserve(ip netip.Addr) bool {
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
	if f.n >= t.max {
		return false
	}
	f.n++
	t.seen[ip] = f
	return true
}

// refund gives back an attempt reserved in the current window: the
// credentials were right.
func (t *throttle) refund(ip netip.Addr) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if f, ok := t.seen[ip]; ok && f.n > 0 {
		f.n--
		t.seen[ip] = f
	}
}

// fail records one failure for ip that was not reserved (a malformed
// exchange), unless ip is already at its limit.
func (t *throttle) fail(ip netip.Addr) { _ = t.reserve(ip) }
