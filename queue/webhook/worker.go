package webhook

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/outbox-mta/outbox/queue"
	"github.com/outbox-mta/outbox/store"
)

// saveTimeout bounds one cursor write; it is detached from shutdown so an
// acknowledged batch is recorded even while the daemon stops.
const saveTimeout = 10 * time.Second

// worker delivers the log to one endpoint, in sequence order: it sends a
// batch, and only after a 2xx records its last sequence number as the
// cursor and moves on. A failed request is retried (the same batch, the
// same webhook-id) after a back-off; a run of failures longer than
// RetryFor marks the endpoint failed, and it is then probed every
// ProbeInterval until it answers or an operator redelivers.
type worker struct {
	d    *Dispatcher
	ep   Endpoint
	log  *slog.Logger
	wake chan struct{} // Redeliver: stop waiting out the back-off

	saveMu sync.Mutex // orders cursor writes: the last snapshot is written last

	mu                            sync.Mutex
	cur                           store.WebhookCursor // Seq may run ahead of the spool by skipped events
	attempts                      int                 // failed requests of the pending batch
	dirty                         bool                // cur has changes not yet written
	saved                         time.Time           // when cur was last written
	next                          time.Time
	requests, failures, delivered uint64
}

func newWorker(d *Dispatcher, e Endpoint) *worker {
	return &worker{
		d:    d,
		ep:   e,
		log:  d.log.With("endpoint", e.Name, "url", e.safeURL()),
		wake: make(chan struct{}, 1),
		cur:  store.WebhookCursor{Endpoint: e.Name},
	}
}

func (w *worker) run(ctx context.Context) {
	if !w.load(ctx) {
		return
	}
	defer w.flush(ctx) // a stop keeps what was acknowledged
	for {
		batch, last, err := w.nextBatch(ctx)
		if err != nil {
			return
		}
		if !w.deliver(ctx, batch, last) {
			return
		}
	}
}

// load reads the endpoint's cursor, retrying while the spool cannot be
// read. An endpoint never seen starts at the beginning of the log: it
// gets every event still retained.
func (w *worker) load(ctx context.Context) bool {
	for attempt := 1; ; attempt++ {
		c, ok, err := w.d.opts.Cursors.WebhookCursor(ctx, w.ep.Name)
		if err == nil {
			if ok {
				w.mu.Lock()
				w.cur = c
				w.mu.Unlock()
			}
			if c.Failed {
				w.log.Warn("webhook endpoint is marked failed: probing it every "+w.d.opts.ProbeInterval.String(),
					"cursor", c.Seq, "failing_since", c.FailingSince, "last_error", c.LastError)
			}
			return true
		}
		w.log.Error("cannot read the webhook cursor", "err", err)
		if !w.sleep(ctx, w.backoff(attempt)) {
			return false
		}
	}
}

// nextBatch waits for events after the cursor and returns those the
// endpoint wants, with the sequence number of the last event read (the
// cursor after they are acknowledged). A page short of MaxBatch is read
// again after Options.Linger, once. Events it does not want move the
// cursor in memory only; the next acknowledgement records it.
func (w *worker) nextBatch(ctx context.Context) ([]Event, uint64, error) {
	w.mu.Lock()
	after := w.cur.Seq
	w.mu.Unlock()
	lingered := false
	for attempt := 1; ; {
		evs, err := w.d.opts.Log.Events(ctx, after, w.d.opts.MaxBatch)
		switch {
		case ctx.Err() != nil:
			return nil, 0, ctx.Err()
		case err != nil:
			w.log.Error("cannot read the event log", "after", after, "err", err)
			if !w.sleep(ctx, w.backoff(attempt)) {
				return nil, 0, ctx.Err()
			}
			attempt++
			continue
		case len(evs) == 0:
			w.flush(ctx) // idle: record the cursor before waiting
			if err := w.d.opts.Log.Wait(ctx, after); err != nil {
				return nil, 0, err
			}
			continue
		}
		attempt = 1
		if len(evs) < w.d.opts.MaxBatch && w.d.opts.Linger > 0 && !lingered {
			// A short page: let more events gather, then read again.
			lingered = true
			if !w.sleep(ctx, w.d.opts.Linger) {
				return nil, 0, ctx.Err()
			}
			continue
		}
		lingered = false
		var batch []Event
		for _, e := range evs {
			if w.ep.wants(e.Type) {
				batch = append(batch, e)
			}
		}
		after = evs[len(evs)-1].Seq
		if len(batch) > 0 {
			return batch, after, nil
		}
		w.mu.Lock()
		w.cur.Seq, w.dirty = after, true
		w.mu.Unlock()
	}
}

// deliver sends batch until the endpoint acknowledges it, then records
// last as the cursor. It returns false when ctx ended first.
func (w *worker) deliver(ctx context.Context, batch []Event, last uint64) bool {
	id := "outbox-" + strconv.FormatUint(batch[0].Seq, 10) + "-" + strconv.FormatUint(batch[len(batch)-1].Seq, 10)
	body := encodeBatch(batch, w.d.opts.Clock.Now())
	for {
		err := w.post(ctx, id, body)
		if ctx.Err() != nil {
			return false
		}
		if err == nil {
			return w.acknowledged(ctx, last, len(batch))
		}
		if !w.sleep(ctx, w.failed(ctx, id, err)) {
			return false
		}
	}
}

// acknowledged records a 2xx: the cursor moves to last and any run of
// failures ends. The cursor is written at once when that ends a run of
// failures, when CursorInterval has passed since the last write, and
// whenever the endpoint goes idle; so under load one write (one share of
// a commit) covers many requests, and a crash sends again at most the
// last CursorInterval of acknowledged events. A write the spool refuses
// is retried (the events would otherwise be sent again after a restart).
func (w *worker) acknowledged(ctx context.Context, last uint64, n int) bool {
	now := w.d.opts.Clock.Now()
	w.mu.Lock()
	wasFailed, since := w.cur.Failed, w.cur.FailingSince
	w.cur.Seq, w.cur.Failed, w.cur.FailingSince, w.cur.LastError = last, false, time.Time{}, ""
	w.attempts, w.next, w.dirty = 0, time.Time{}, true
	w.delivered += uint64(n)
	due := now.Sub(w.saved) >= w.d.opts.CursorInterval
	w.mu.Unlock()
	switch {
	case wasFailed:
		w.log.Info("webhook endpoint answers again: delivery resumed", "cursor", last, "failing_since", since)
	case !since.IsZero():
		w.log.Info("webhook endpoint answers again", "cursor", last, "failing_since", since)
	}
	if !due && since.IsZero() {
		return true
	}
	for attempt := 1; ; attempt++ {
		err := w.save(ctx)
		if err == nil {
			return true
		}
		w.log.Error("cannot record the webhook cursor", "cursor", last, "err", err)
		if !w.sleep(ctx, w.backoff(attempt)) {
			return false
		}
	}
}

// flush writes the cursor if it has unwritten changes.
func (w *worker) flush(ctx context.Context) {
	w.mu.Lock()
	dirty := w.dirty
	w.mu.Unlock()
	if !dirty {
		return
	}
	if err := w.save(ctx); err != nil {
		w.log.Error("cannot record the webhook cursor", "err", err)
	}
}

// failed records a failed request and returns the wait before the next:
// the back-off, or ProbeInterval once the endpoint is failed. The start
// of a run of failures and the failed mark are written to the spool, so
// a restart neither resets RetryFor nor forgets the mark.
func (w *worker) failed(ctx context.Context, id string, err error) time.Duration {
	now := w.d.opts.Clock.Now()
	w.mu.Lock()
	w.failures++
	w.attempts++
	first := w.cur.FailingSince.IsZero()
	if first {
		w.cur.FailingSince = now
	}
	w.cur.LastError = err.Error()
	mark := !w.cur.Failed && now.Sub(w.cur.FailingSince) >= w.ep.RetryFor
	if mark {
		w.cur.Failed = true
	}
	delay := w.backoff(w.attempts)
	if w.cur.Failed {
		delay = w.d.opts.ProbeInterval
	}
	w.next = now.Add(delay)
	since, attempts := w.cur.FailingSince, w.attempts
	w.mu.Unlock()
	if mark {
		w.log.Error("webhook endpoint marked failed: it has failed for longer than retry_for; probing it every "+
			w.d.opts.ProbeInterval.String()+" (resume now with: outbox webhooks redeliver "+w.ep.Name+")",
			"id", id, "failing_since", since, "retry_for", w.ep.RetryFor, "err", err)
	} else {
		w.log.Warn("webhook request failed", "id", id, "attempt", attempts, "retry_in", delay, "failing_since", since, "err", err)
	}
	if first || mark {
		if err := w.save(ctx); err != nil {
			w.log.Error("cannot record the webhook endpoint's state", "err", err)
		}
	}
	return delay
}

// redeliver clears the failed mark, starts RetryFor again and wakes the
// worker out of its back-off.
func (w *worker) redeliver(ctx context.Context) error {
	w.mu.Lock()
	w.cur.Failed, w.attempts = false, 0
	if !w.cur.FailingSince.IsZero() {
		w.cur.FailingSince = w.d.opts.Clock.Now()
	}
	w.mu.Unlock()
	err := w.save(ctx)
	select {
	case w.wake <- struct{}{}:
	default:
	}
	w.log.Info("webhook endpoint resumed by the operator", "cursor", w.status().Cursor)
	return err
}

// save writes the cursor as it is now.
func (w *worker) save(ctx context.Context) error {
	w.saveMu.Lock()
	defer w.saveMu.Unlock()
	now := w.d.opts.Clock.Now()
	w.mu.Lock()
	c := w.cur
	w.dirty = false
	w.mu.Unlock()
	c.Updated = now
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
	defer cancel()
	err := w.d.opts.Cursors.PutWebhookCursor(ctx, c)
	w.mu.Lock()
	if err != nil {
		w.dirty = true
	} else {
		w.saved = now
	}
	w.mu.Unlock()
	return err
}

func (w *worker) backoff(attempts int) time.Duration {
	return queue.Backoff(attempts, w.ep.FirstRetry, w.ep.MaxRetry, w.d.opts.Rand)
}

// sleep waits d, or until Redeliver wakes the worker; false when ctx
// ended first.
func (w *worker) sleep(ctx context.Context, d time.Duration) bool {
	t := w.d.opts.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-w.wake:
		return true
	case <-ctx.Done():
		return false
	}
}

func (w *worker) status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	return Status{
		Name: w.ep.Name, URL: w.ep.safeURL(),
		Cursor: w.cur.Seq, Failed: w.cur.Failed, FailingSince: w.cur.FailingSince, LastError: w.cur.LastError,
		NextAttempt: w.next, Requests: w.requests, Failures: w.failures, Delivered: w.delivered,
	}
}
