package queue

import (
	"time"

	"github.com/outbox-mta/outbox/store"
)

// Backoff returns how long to wait before the next attempt for a recipient
// that has now failed temporarily attempts times (attempts ≥ 1): first after
// the first failure, doubling after each further one, with ±10 % jitter,
// never more than maxInterval.
//
// Everything is integer time.Duration arithmetic: a float factor would
// truncate nanoseconds and, at large attempt counts, overflow silently.
// rnd(n) must return a value in [0, n); it is the jitter seam
// (Options.Rand), so tests make the schedule exact.
func Backoff(attempts int, first, maxInterval time.Duration, rnd func(n int64) int64) time.Duration {
	if first <= 0 {
		first = time.Second
	}
	if maxInterval < first {
		maxInterval = first
	}
	d := first
	// Double by steps and stop at the cap, so a large attempt count never
	// shifts a Duration past its 63 bits.
	for i := 1; i < attempts && d < maxInterval; i++ {
		d *= 2
	}
	d = min(d, maxInterval)
	if tenth := int64(d / 10); tenth > 0 && rnd != nil {
		// Uniform in [-d/10, +d/10].
		d += time.Duration(rnd(2*tenth+1) - tenth)
	}
	return min(d, maxInterval)
}

// deadline is when delivery of m is given up: lifetime after its start
// (store.Message.Start: the scheduled send time, or reception), or its
// ExpireAt when that is earlier. Zero: never.
func deadline(m *store.Message, lifetime time.Duration) time.Time {
	var d time.Time
	if lifetime > 0 {
		d = m.Start().Add(lifetime)
	}
	if !m.ExpireAt.IsZero() && (d.IsZero() || m.ExpireAt.Before(d)) {
		d = m.ExpireAt
	}
	return d
}

// expired reports whether now has reached the deadline (zero: never), so
// a temporary failure becomes a bounce. "Reached" (not "passed") matters:
// next attempts are capped at the deadline (see nextAttempt), and a
// failure at exactly that instant must give up rather than schedule
// another attempt at the same instant.
func expired(deadline, now time.Time) bool {
	return !deadline.IsZero() && !now.Before(deadline)
}

// nextAttempt is when a recipient that failed temporarily at now, after
// attempts attempts, is tried again: now plus the back-off, but no later
// than the message's expiry, so the last attempt happens at the deadline and
// its failure bounces with the real last error.
func nextAttempt(now, deadline time.Time, attempts int, o *Options) time.Time {
	t := now.Add(Backoff(attempts, o.FirstRetry, o.MaxRetryInterval, o.Rand))
	if !deadline.IsZero() && t.After(deadline) {
		t = deadline
	}
	return t
}

// warmupAllowance is the start-up spread: during the warm-up window after
// Run starts, the dispatcher may have started at most
// 1 + elapsed·rate/second deliveries in total, so a spool full of overdue
// messages after a restart is released as a ramp instead of all at once.
// It returns how many more may start now (0 or more) and, when none may,
// when the next one may. After the window, ok is false: no limit.
func warmupAllowance(start, now time.Time, window time.Duration, rate, used int) (n int, next time.Time, ok bool) {
	if window <= 0 || rate <= 0 || !now.Before(start.Add(window)) {
		return 0, time.Time{}, false
	}
	elapsed := max(now.Sub(start), 0)
	interval := time.Second / time.Duration(rate)
	if interval <= 0 {
		interval = 1
	}
	allowed := 1 + int(elapsed/interval)
	if allowed > used {
		return allowed - used, time.Time{}, true
	}
	// The (used+1)-th start is allowed once 1 + elapsed/interval > used.
	next = start.Add(time.Duration(used) * interval)
	if end := start.Add(window); next.After(end) {
		next = end // the window's end lifts the limit anyway
	}
	return 0, next, true
}
