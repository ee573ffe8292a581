package maintenance

import (
	"context"
	"fmt"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// Prune removes finished messages received more than Retention ago and
// bounce log rows older than BounceRetention, idempotency records
// older than IdempotencyRetention and events older than EventRetention. Pending and held messages
// are never pruned, whatever their age.
func (r *Runner) Prune(ctx context.Context) error {
	now := r.opts.Now()
	var msgs, bounces, keys int
	var err error
	if r.opts.Retention > 0 {
		if msgs, err = r.opts.Store.PruneMessages(ctx, now.Add(-r.opts.Retention)); err != nil {
			return fmt.Errorf("prune messages: %w", err)
		}
	}
	if r.opts.BounceRetention > 0 {
		if bounces, err = r.opts.Store.PruneBounces(ctx, now.Add(-r.opts.BounceRetention)); err != nil {
			return fmt.Errorf("prune bounce log: %w", err)
		}
	}
	if r.opts.IdempotencyRetention > 0 {
		if keys, err = r.opts.Store.PruneIdempotency(ctx, now.Add(-r.opts.IdempotencyRetention)); err != nil {
			return fmt.Errorf("prune idempotency keys: %w", err)
		}
	}
	events, err := r.pruneEvents(ctx, now)
	if err != nil {
		return err
	}
	r.log.Info("prune", "messages", msgs, "bounces", bounces, "idempotency_keys", keys, "events", events)
	return nil
}

// pruneEvents removes events older than EventRetention.
func (r *Runner) pruneEvents(ctx context.Context, now time.Time) (int, error) {
	if r.opts.EventRetention <= 0 {
		return 0, nil
	}
	n, err := r.opts.Store.PruneEvents(ctx, now.Add(-r.opts.EventRetention))
	if err != nil {
		return n, fmt.Errorf("prune event log: %w", err)
	}
	return n, nil
}

// Stats logs the spool statistics, and a hint to compact the file when
// free pages make up much of it: bbolt reuses free pages but never gives
// them back to the file system.
func (r *Runner) Stats(ctx context.Context) error {
	s, err := r.opts.Store.Stats(ctx)
	if err != nil {
		return fmt.Errorf("spool statistics: %w", err)
	}
	attrs := []any{
		"messages", s.Messages, "pending", s.Pending, "domains", len(s.Domains),
		"bounce_log", s.Bounces, "quarantined", s.Quarantined,
		"file_bytes", s.FileSize, "free_bytes", s.FreeBytes,
	}
	for st := store.StateQueued; st <= store.StateHeld; st++ {
		attrs = append(attrs, "rcpt_"+st.String(), s.Recipients[st])
	}
	if !s.OldestPending.IsZero() {
		attrs = append(attrs, "oldest_pending_age", r.opts.Now().Sub(s.OldestPending).Round(time.Second))
	}
	r.log.Info("spool statistics", attrs...)
	if compactHint(s.FileSize, s.FreeBytes, r.opts.CompactMinBytes, r.opts.CompactHint) {
		r.log.Warn("the spool file is mostly free space; compact it during a maintenance window (see README, Maintenance)",
			"file_bytes", s.FileSize, "free_bytes", s.FreeBytes)
	}
	return nil
}

// compactHint reports whether a file of size bytes with free of them free
// is worth compacting. Pure, table-tested.
func compactHint(size, free, minSize int64, share float64) bool {
	return size >= minSize && size > 0 && float64(free) >= share*float64(size)
}

// Sweep reads every pending message and wakes the queue when one has a
// recipient due more than SweepOverdue ago: the due index should have
// handed it to a worker long before, so one is logged as a warning. It
// is a safety net, off by default; the queue's own index does the work.
func (r *Runner) Sweep(ctx context.Context) error {
	now := r.opts.Now()
	var overdue []string
	err := r.eachPending(ctx, func(m *store.Message) error {
		if next, ok := m.NextAttempt(); ok && now.Sub(next) > r.opts.SweepOverdue {
			overdue = append(overdue, m.ID)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	for _, id := range overdue {
		r.log.Warn("message overdue; waking delivery", "msgid", id)
	}
	if len(overdue) > 0 {
		r.opts.Queue.Wake()
	}
	r.log.Info("sweep", "overdue", len(overdue))
	return nil
}

// eachPending calls fn for every message not yet final, page by page.
func (r *Runner) eachPending(ctx context.Context, fn func(m *store.Message) error) error {
	f := store.Filter{Limit: store.MaxListLimit}
	for {
		page, err := r.opts.Store.List(ctx, f)
		if err != nil {
			return err
		}
		for _, m := range page {
			if err := fn(m); err != nil {
				return err
			}
		}
		if len(page) < f.Limit {
			return nil
		}
		f.After = page[len(page)-1].ID
	}
}
