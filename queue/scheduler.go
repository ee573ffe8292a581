package queue

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/outbox-mta/outbox/store"
)

const (
	// storeRetry is how long the dispatcher waits after a store error
	// before asking again (the error is logged each time).
	storeRetry = time.Second
	// horizon is "any time at all" for a Due query that looks past the
	// in-flight messages for the earliest one that is not.
	horizon = 100 * 365 * 24 * time.Hour
)

// Run delivers due messages until ctx is cancelled or Shutdown is called.
//
// One dispatcher goroutine (this one) pulls due message IDs from the
// store's due index, never more than there are free workers, and hands them
// to a fixed pool of Options.Workers worker goroutines. Between pulls it
// waits on one reusable timer, armed for the next due time, or for a
// wake-up (Enqueue, Flush, Release) or a finishing worker. No goroutine
// sleeps per message.
//
// When ctx is cancelled, Run stops claiming work, cancels the in-flight
// deliveries (they are abandoned to the queue: recipients without an
// outcome stay due, outcomes already known are still recorded), waits for
// the workers and returns ctx.Err(). After Shutdown it returns ErrClosed.
func (q *Queue) Run(ctx context.Context) error {
	q.mu.Lock()
	switch {
	case q.closed:
		q.mu.Unlock()
		return ErrClosed
	case q.running:
		q.mu.Unlock()
		return ErrRunning
	}
	dispCtx, stopDispatch := context.WithCancel(ctx)
	workCtx, abandon := context.WithCancel(ctx)
	stopped := make(chan struct{})
	q.running, q.stopDispatch, q.abandon, q.stopped = true, stopDispatch, abandon, stopped
	q.mu.Unlock()

	n := q.opts.Workers
	work := make(chan string, n)
	done := make(chan string, n) // never blocks a worker: at most n in flight
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for id := range work {
				q.deliverMessage(workCtx, id)
				done <- id
			}
		})
	}
	// A crash between a bounce and the queuing of its notice leaves
	// DSNPending set: queue those notices now (at worst one is sent twice),
	// before any delivery can bounce and set DSNPending itself, which would
	// otherwise be seen here too and notified twice.
	q.recoverNotices(workCtx)

	d := dispatcher{q: q, work: work, done: done, inflight: make(map[string]bool, n), start: q.clock.Now()}
	d.loop(dispCtx)

	close(work)
	if ctx.Err() != nil {
		abandon()
	}
	wg.Wait()
	abandon()
	stopDispatch()

	q.mu.Lock()
	q.running = false
	q.mu.Unlock()
	close(stopped)
	if err := ctx.Err(); err != nil {
		return err
	}
	return ErrClosed
}

// Shutdown stops the queue gracefully, as http.Server.Shutdown: it stops
// claiming work at once, then waits for in-flight deliveries to finish. If
// ctx ends first, the remaining deliveries are cancelled and abandoned to
// the queue (whatever outcome they already have is recorded), Shutdown
// waits for Run to return and returns ctx.Err(). Run then returns
// ErrClosed, and so does any later Run.
func (q *Queue) Shutdown(ctx context.Context) error {
	q.mu.Lock()
	q.closed = true
	running, stop, abandon, stopped := q.running, q.stopDispatch, q.abandon, q.stopped
	q.mu.Unlock()
	if !running {
		return nil
	}
	stop()
	select {
	case <-stopped:
		return nil
	case <-ctx.Done():
		abandon()
		<-stopped
		return ctx.Err()
	}
}

// dispatcher is the state of Run's dispatch loop; only that goroutine
// touches it.
type dispatcher struct {
	q        *Queue
	work     chan<- string
	done     <-chan string
	inflight map[string]bool
	start    time.Time // for the start-up spread
	used     int       // deliveries started during the warm-up window
	// caughtUp ends the start-up spread early: once a query finds no more
	// due work than it may start, the backlog found at start-up is gone,
	// and new mail must not be rate-limited for the rest of the window (an
	// empty spool at start-up is caught up at the first query).
	caughtUp bool
	now      time.Time // of the current fill, for skip
	lanes    lanes     // the share of each priority lane (lanes.go)
}

// skip leaves out of a Due query the messages in flight, those waiting
// out a back-off after a failed outcome commit (commitfail.go) and those
// waiting for a connection of their destination's budget (shape.go).
func (d *dispatcher) skip(id string) bool {
	return d.inflight[id] || d.q.health.waiting(id, d.now) || d.q.parked(id)
}

func (d *dispatcher) loop(ctx context.Context) {
	timer := d.q.clock.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		if wait := d.fill(ctx); wait >= 0 {
			timer.Reset(wait)
		} else {
			timer.Stop()
		}
		select {
		case <-ctx.Done():
			return
		case <-d.q.wake:
		case <-timer.C():
		case id := <-d.done:
			delete(d.inflight, id)
		}
		// Collect every worker that finished meanwhile before the next
		// store query.
		for drained := false; !drained; {
			select {
			case id := <-d.done:
				delete(d.inflight, id)
			default:
				drained = true
			}
		}
	}
}

// fill hands due messages to free workers and returns how long to wait
// before looking again; negative means "until an event" (a wake-up or a
// worker finishing), because no timer can bring new work sooner.
func (d *dispatcher) fill(ctx context.Context) time.Duration {
	q := d.q
	now := q.clock.Now()
	d.now = now
	if wait, paused := d.pausedWait(ctx, now); paused {
		return wait
	}
	recheck := q.recheckShaping(now)
	free := q.opts.Workers - len(d.inflight)
	if free <= 0 {
		return -1
	}
	limit := free
	allow, tokenAt, warm := warmupAllowance(d.start, now, q.opts.Warmup, q.opts.WarmupRate, d.used)
	warm = warm && !d.caughtUp
	if warm {
		limit = min(limit, allow)
	}
	if limit > 0 {
		ids, err := d.dueByLane(ctx, limit)
		if err == nil {
			ids, err = q.claim(ctx, now, ids)
		}
		if err != nil {
			return d.storeError(ctx, "due", err)
		}
		if warm && len(ids) < limit {
			d.caughtUp = true
		}
		for _, id := range ids {
			d.inflight[id] = true
			if warm {
				d.used++
			}
			d.work <- id // buffered for every free slot: never blocks
		}
		if len(ids) == limit {
			if limit == free {
				return -1 // every worker busy; one finishing wakes us
			}
			// The start-up spread held some back: come back for the next.
			_, tokenAt, _ = warmupAllowance(d.start, now, q.opts.Warmup, q.opts.WarmupRate, d.used)
			return max(tokenAt.Sub(now), 0)
		}
	} else {
		// The start-up spread allows none now; wait for it only if
		// something is due.
		ids, err := q.store.Due(ctx, now, 1, d.skip)
		if err != nil {
			return d.storeError(ctx, "due", err)
		}
		if len(ids) > 0 {
			return max(tokenAt.Sub(now), 0)
		}
		d.caughtUp = true
	}
	return earliest(earliest(d.untilNextDue(ctx, now), q.health.untilRelease(now)), recheck)
}

// earliest of two waits, negative meaning none.
func earliest(a, b time.Duration) time.Duration {
	if a < 0 || (b >= 0 && b < a) {
		return b
	}
	return a
}

// pausedWait reports whether dispatch is paused because the spool refuses
// commits, and then the wait until the next probe. When a probe is due it
// makes it; a successful one resumes dispatch at once.
func (d *dispatcher) pausedWait(ctx context.Context, now time.Time) (time.Duration, bool) {
	q := d.q
	paused, probe, wait := q.health.paused(now)
	if !paused {
		return 0, false
	}
	if !probe {
		return wait, true
	}
	if err := q.store.Probe(ctx); err != nil {
		wait := q.health.probeFailed(err, now)
		if ctx.Err() == nil {
			q.log.Warn("spool still refuses commits; delivery stays paused", "err", err, "next_probe", wait)
		}
		return wait, true
	}
	q.commitOK("")
	return 0, false
}

// untilNextDue is the wait until the earliest due time of a message that is
// not in flight; negative when there is none.
func (d *dispatcher) untilNextDue(ctx context.Context, now time.Time) time.Duration {
	q := d.q
	if len(d.inflight) == 0 {
		next, ok, err := q.store.NextDue(ctx)
		if err != nil {
			return d.storeError(ctx, "next due", err)
		}
		if !ok {
			return -1
		}
		if next.After(now) {
			return next.Sub(now)
		}
	}
	// The earliest entry is a message in flight (with one in flight, it
	// always is: it was due when it started), whose index entry moves only
	// when its worker records the outcome. Look past the in-flight
	// messages for the earliest other one.
	ids, err := q.store.Due(ctx, now.Add(horizon), 1, d.skip)
	if err != nil {
		return d.storeError(ctx, "due", err)
	}
	if len(ids) == 0 {
		return -1
	}
	m, err := q.store.Get(ctx, ids[0])
	if errors.Is(err, store.ErrNotFound) {
		return 0 // deleted meanwhile: look again
	}
	if err != nil {
		return d.storeError(ctx, "get", err)
	}
	if t, ok := m.NextAttempt(); ok && t.After(now) {
		return t.Sub(now)
	}
	// Due by its record yet not returned by Due(now): it changed between
	// the two queries. Look again soon, but never spin on an index that
	// disagrees with its records.
	return storeRetry
}

func (d *dispatcher) storeError(ctx context.Context, op string, err error) time.Duration {
	if ctx.Err() == nil {
		d.q.log.Error("store query failed; retrying", "op", op, "err", err, "retry", storeRetry)
	}
	return storeRetry
}
