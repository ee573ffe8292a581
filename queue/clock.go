package queue

import "time"

// Clock is the queue's source of time. The scheduler reads the time and
// waits on a single reusable timer through it, so tests drive retries,
// back-off and expiry with a fake clock instead of waiting.
type Clock interface {
	Now() time.Time
	// NewTimer returns a stopped-or-running timer that fires once after d.
	NewTimer(d time.Duration) Timer
}

// Timer is the part of *time.Timer the scheduler uses.
type Timer interface {
	C() <-chan time.Time
	// Reset re-arms the timer to fire after d. With Go 1.23+ timer
	// semantics no stale value is received after Reset or Stop.
	Reset(d time.Duration)
	Stop() bool
}

// systemClock is the wall clock.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time   { return r.t.C }
func (r realTimer) Reset(d time.Duration) { r.t.Reset(d) }
func (r realTimer) Stop() bool            { return r.t.Stop() }

// SystemClock returns the wall clock, for the packages beside the queue
// that take a Clock too.
func SystemClock() Clock { return systemClock{} }
