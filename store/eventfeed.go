package store

import "sync"

// EventFeed is a spool's newest committed event sequence number and the
// wake-up of the followers waiting for a newer one (EventsAfter). Every
// backend keeps one: bbolt feeds it from its commits, PostgreSQL from its
// own and, by NOTIFY, from the other nodes'. Its zero value wakes every
// waiter at once until Init.
type EventFeed struct {
	mu     sync.Mutex
	last   uint64
	ch     chan struct{}
	closed bool
}

// Init sets the newest sequence number found at open.
func (f *EventFeed) Init(last uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last, f.ch = last, make(chan struct{})
}

// Committed records seq as committed and, when it is newer than the
// newest known, wakes the waiters.
func (f *EventFeed) Committed(seq uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if seq <= f.last || f.closed || f.ch == nil {
		return
	}
	f.last = seq
	close(f.ch)
	f.ch = make(chan struct{})
}

// Close wakes every waiter for good (the spool closes).
func (f *EventFeed) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed && f.ch != nil {
		close(f.ch)
	}
	f.closed = true
}

// Last is the newest committed sequence number; 0 when none.
func (f *EventFeed) Last() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

// After returns a channel closed once an event numbered above after is
// committed: at once when one is already, and when the feed closes.
func (f *EventFeed) After(after uint64) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last > after || f.closed || f.ch == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return f.ch
}
