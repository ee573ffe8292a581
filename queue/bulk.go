package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/outbox-mta/outbox/store"
)

// Bulk operations, as postsuper does them: one operator command acts on a
// selection of messages (IDs, or every message a filter matches).

// The operations Bulk knows.
const (
	BulkHold    = "hold"
	BulkRelease = "release"
	BulkDelete  = "delete"
	BulkFlush   = "flush"
	// BulkRequeue is a flush after a change of configuration, as
	// `postsuper -r`: pending recipients are due now and every
	// destination's back-off is dropped, so the next attempt routes by the
	// current configuration.
	BulkRequeue = "requeue"
)

// bulkWorkers bounds the writes one bulk operation has in flight. The
// store's committer groups concurrent writes into one transaction each of
// at most its own batch bound, so a selection of N messages costs about
// N/bulkWorkers commits rather than N, and no transaction grows with N.
const bulkWorkers = 256

// ValidBulkOp reports whether op names a bulk operation.
func ValidBulkOp(op string) bool {
	switch op {
	case BulkHold, BulkRelease, BulkDelete, BulkFlush, BulkRequeue:
		return true
	}
	return false
}

// Bulk runs op on the messages selected: the IDs in ids that match f, or,
// when ids is empty, every message f matches (f's paging fields are
// ignored). With dryRun it changes nothing. It returns how many messages
// were matched (dry run) or acted on; an ID unknown or gone meanwhile is
// skipped, not an error.
func (op *Ops) Bulk(ctx context.Context, name string, ids []string, f store.Filter, dryRun bool) (int, error) {
	if !ValidBulkOp(name) {
		return 0, fmt.Errorf("queue: unknown bulk operation %q", name)
	}
	f.Domain = store.NormalizeDomain(f.Domain)
	sel, err := op.selectIDs(ctx, ids, f)
	if err != nil {
		return 0, fmt.Errorf("queue: %s: %w", name, err)
	}
	if dryRun {
		return len(sel), nil
	}
	act := op.bulkAction(ctx, name, f.Domain)
	n, err := runBulk(ctx, sel, act)
	if name != BulkHold && name != BulkDelete {
		op.q.Wake()
	}
	op.q.log.Info("bulk operation", "op", name, "matched", len(sel), "done", n)
	if err != nil {
		return n, fmt.Errorf("queue: %s: %w", name, err)
	}
	return n, nil
}

// selectIDs returns the IDs of the selection: the given ones that exist
// and match f, or every match of f.
func (op *Ops) selectIDs(ctx context.Context, ids []string, f store.Filter) ([]string, error) {
	var out []string
	if len(ids) > 0 {
		f.Done = true // a named message is selected even when finished
		for _, id := range ids {
			m, err := op.q.store.Get(ctx, id)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if f.Match(m) {
				out = append(out, id)
			}
		}
		return out, nil
	}
	f.After, f.Limit = "", store.MaxListLimit
	for {
		page, err := op.q.store.List(ctx, f)
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			return out, nil
		}
		for _, m := range page {
			out = append(out, m.ID)
		}
		f.After = page[len(page)-1].ID
	}
}

// bulkAction is the per-message write of operation name. A flush
// restricted to a domain flushes that domain's recipients only.
func (op *Ops) bulkAction(ctx context.Context, name, domain string) func(ctx context.Context, id string) error {
	update := func(rule func(r *store.Recipient)) func(context.Context, string) error {
		return func(ctx context.Context, id string) error {
			return op.q.store.Update(ctx, id, func(m *store.Message) error {
				for i := range m.Recipients {
					rule(&m.Recipients[i])
				}
				return nil
			})
		}
	}
	switch name {
	case BulkHold:
		return update(holdRecipient)
	case BulkRelease:
		return update(func(r *store.Recipient) { releaseRecipient(r, op.q.clock.Now()) })
	case BulkDelete:
		return func(ctx context.Context, id string) error {
			if err := op.q.store.Delete(ctx, id); err != nil {
				return err
			}
			op.q.health.forget(id)
			return nil
		}
	default: // flush, requeue
		// Lift back-offs before the recipients become due (see Flush); a
		// requeue drops them all, whatever the selection.
		if name == BulkRequeue {
			op.q.dest.clear(ctx, "")
		} else {
			op.q.dest.clear(ctx, domain)
		}
		flush := update(func(r *store.Recipient) {
			if domain == "" || store.Domain(r.Addr) == domain {
				flushRecipient(r, op.q.clock.Now())
			}
		})
		return func(ctx context.Context, id string) error {
			if err := flush(ctx, id); err != nil {
				return err
			}
			op.q.commitOK(id)
			return nil
		}
	}
}

// runBulk runs act on every ID with bulkWorkers at a time and returns how
// many succeeded. ErrNotFound (deleted meanwhile) is skipped; the first
// other error stops the operation and is returned.
func runBulk(ctx context.Context, ids []string, act func(context.Context, string) error) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		n        int
		firstErr error
		wg       sync.WaitGroup
	)
	work := make(chan string)
	for range min(bulkWorkers, len(ids)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				err := act(ctx, id)
				mu.Lock()
				switch {
				case err == nil:
					n++
				case errors.Is(err, store.ErrNotFound):
				case firstErr == nil:
					firstErr = fmt.Errorf("%s: %w", id, err)
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, id := range ids {
		select {
		case work <- id:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return n, firstErr
}
