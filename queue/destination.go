package queue

import (
	"sync"
	"time"
)

// destinations remembers, in memory only, the destination domains whose
// every host failed at the last attempt (delivery.Result.DestinationDown),
// so the queue's other messages for them wait instead of hammering them. It
// is lost on restart on purpose: the start-up spread already softens the
// first attempts, and a stale memory would only delay mail.
type destinations struct {
	mu    sync.Mutex
	until map[string]destDown
}

type destDown struct {
	until time.Time
	reply string // the error that took it down, for LastReply of skipped recipients
}

// down reports whether domain is backed off at now, until when, and why.
func (d *destinations) down(domain string, now time.Time) (destDown, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dd, ok := d.until[domain]
	if !ok {
		return destDown{}, false
	}
	if !now.Before(dd.until) {
		delete(d.until, domain)
		return destDown{}, false
	}
	return dd, true
}

// set backs domain off until until. An existing later back-off is kept: two
// messages failing concurrently must not shorten each other's wait.
func (d *destinations) set(domain string, until time.Time, reply string, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if cur, ok := d.until[domain]; ok && cur.until.After(until) {
		return
	}
	d.until[domain] = destDown{until: until, reply: reply}
	// Sweep expired entries here so the map stays bounded by the number of
	// domains currently down.
	for k, v := range d.until {
		if !now.Before(v.until) {
			delete(d.until, k)
		}
	}
}

// clear forgets domain's back-off (operator flush); "" forgets all.
func (d *destinations) clear(domain string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if domain == "" {
		clear(d.until)
		return
	}
	delete(d.until, domain)
}

// count is the number of domains backed off at now.
func (d *destinations) count(now time.Time) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, v := range d.until {
		if now.Before(v.until) {
			n++
		}
	}
	return n
}
