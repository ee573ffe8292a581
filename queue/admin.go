package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/outbox-mta/outbox/queue/dsn"
	"github.com/outbox-mta/outbox/store"
)

// Ops carries out the operator's commands on the queue's spool (queue/admin
// serves them over the admin socket). It shares the queue's schedule: a
// flush lifts destination back-offs and wakes the dispatcher, a delete
// drops a commit back-off. Errors wrap the store's sentinels:
// errors.Is(err, store.ErrNotFound) for an unknown ID.
type Ops struct {
	q *Queue
}

// Ops returns the operator's commands on q.
func (q *Queue) Ops() *Ops { return &Ops{q: q} }

// List returns the messages matching f (see store.Filter), one page.
func (op *Ops) List(ctx context.Context, f store.Filter) ([]*store.Message, error) {
	f.Domain = store.NormalizeDomain(f.Domain)
	ms, err := op.q.store.List(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("queue: list: %w", err)
	}
	return ms, nil
}

// Quarantined lists the messages the store set aside because their record
// or body cannot be read (store.Quarantined): never attempted again, kept
// for the operator.
func (op *Ops) Quarantined(ctx context.Context) ([]store.Quarantined, error) {
	qs, err := op.q.store.Quarantined(ctx)
	if err != nil {
		return nil, fmt.Errorf("queue: quarantined: %w", err)
	}
	return qs, nil
}

// SpoolStats counts the spool: messages, pending ones and the oldest,
// recipients by state and by domain (store.Stats).
func (op *Ops) SpoolStats(ctx context.Context) (store.Stats, error) {
	s, err := op.q.store.Stats(ctx)
	if err != nil {
		return s, fmt.Errorf("queue: stats: %w", err)
	}
	return s, nil
}

// Get returns one message's record.
func (op *Ops) Get(ctx context.Context, id string) (*store.Message, error) {
	m, err := op.q.store.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("queue: get %s: %w", id, err)
	}
	return m, nil
}

// Headers returns the header block of id's stored body, up to (not
// including) the blank line that ends it, with its line endings as stored,
// capped as bounce notices cap it (dsn.MaxHeaderBytes).
func (op *Ops) Headers(ctx context.Context, id string) (string, error) {
	rc, err := op.q.store.OpenBody(ctx, id)
	if err != nil {
		return "", fmt.Errorf("queue: headers %s: %w", id, err)
	}
	defer rc.Close()
	h, err := dsn.ReadHeaders(rc)
	if err != nil {
		return "", fmt.Errorf("queue: headers %s: %w", id, err)
	}
	return string(h), nil
}

// OpenMessage opens id's stored message as it is sent: the stored prefix
// (the daemon's own header fields, a DKIM signature) then the body. size is
// its length in bytes.
func (op *Ops) OpenMessage(ctx context.Context, id string) (rc io.ReadCloser, size int64, err error) {
	m, err := op.q.store.Get(ctx, id)
	if err != nil {
		return nil, 0, fmt.Errorf("queue: message %s: %w", id, err)
	}
	body, err := op.q.store.OpenBody(ctx, id)
	if err != nil {
		return nil, 0, fmt.Errorf("queue: message %s: %w", id, err)
	}
	return readCloser{io.MultiReader(bytes.NewReader(m.Prefix), body), body}, m.Size, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// Flush makes id's pending (queued or deferred) recipients due now, lifts
// the back-off of their destinations (an operator who flushes wants an
// attempt), and wakes the scheduler.
func (op *Ops) Flush(ctx context.Context, id string) error {
	// Lift the back-off before the recipients become due: a worker that
	// picked them up in between would defer them again without an attempt.
	m, err := op.q.store.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("queue: flush %s: %w", id, err)
	}
	for i := range m.Recipients {
		if s := m.Recipients[i].State; s == store.StateQueued || s == store.StateDeferred {
			op.q.dest.clear(ctx, store.Domain(m.Recipients[i].Addr))
		}
	}
	now := op.q.clock.Now()
	err = op.q.store.Update(ctx, id, func(m *store.Message) error {
		for i := range m.Recipients {
			flushRecipient(&m.Recipients[i], now)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("queue: flush %s: %w", id, err)
	}
	op.q.commitOK(id) // the commit worked: no need to wait out a back-off
	op.q.Wake()
	return nil
}

// FlushDomain flushes, in every message, the pending recipients in domain,
// and returns how many messages had one.
func (op *Ops) FlushDomain(ctx context.Context, domain string) (int, error) {
	domain = store.NormalizeDomain(domain)
	if domain == "" {
		return 0, errors.New("queue: flush domain: empty domain")
	}
	op.q.dest.clear(ctx, domain)
	return op.flushPages(ctx, store.Filter{Domain: domain}, func(r *store.Recipient) bool {
		return store.Domain(r.Addr) == domain
	})
}

// FlushAll flushes every pending recipient and returns how many messages
// had one.
func (op *Ops) FlushAll(ctx context.Context) (int, error) {
	op.q.dest.clear(ctx, "")
	return op.flushPages(ctx, store.Filter{}, func(*store.Recipient) bool { return true })
}

// flushPages pages through List(f) and flushes the recipients sel picks.
func (op *Ops) flushPages(ctx context.Context, f store.Filter, sel func(*store.Recipient) bool) (int, error) {
	n := 0
	defer op.q.Wake()
	for {
		page, err := op.q.store.List(ctx, f)
		if err != nil {
			return n, fmt.Errorf("queue: flush: %w", err)
		}
		if len(page) == 0 {
			return n, nil
		}
		for _, pm := range page {
			now := op.q.clock.Now()
			changed := false
			err := op.q.store.Update(ctx, pm.ID, func(m *store.Message) error {
				changed = false
				for i := range m.Recipients {
					if r := &m.Recipients[i]; sel(r) && flushRecipient(r, now) {
						changed = true
					}
				}
				return nil
			})
			switch {
			case errors.Is(err, store.ErrNotFound):
				// Deleted since the listing.
			case err != nil:
				return n, fmt.Errorf("queue: flush %s: %w", pm.ID, err)
			case changed:
				n++
			}
		}
		f.After = page[len(page)-1].ID
	}
}

// The operator's rules for one recipient, shared by the single and the
// bulk commands (bulk.go). Pure, table-tested.

// flushRecipient makes r due at now if it is pending (queued or deferred),
// reporting whether it was: the rule of Flush, FlushDomain and FlushAll.
func flushRecipient(r *store.Recipient, now time.Time) bool {
	if r.State != store.StateQueued && r.State != store.StateDeferred {
		return false
	}
	if r.NextAttempt.After(now) {
		r.NextAttempt = now
	}
	return true
}

// holdRecipient puts r on hold unless it is final: the rule of Hold.
func holdRecipient(r *store.Recipient) {
	if !r.State.Final() {
		r.State = store.StateHeld
	}
}

// releaseRecipient returns r to the queue, due at now, if it is held: the
// rule of Release.
func releaseRecipient(r *store.Recipient, now time.Time) {
	if r.State == store.StateHeld {
		r.State, r.NextAttempt = store.StateQueued, now
	}
}

// Hold puts id's recipients that are not final on hold: they are not
// attempted until Release. A delivery already under way completes, and
// its outcome is recorded (a held recipient that it deferred stays held).
func (op *Ops) Hold(ctx context.Context, id string) error {
	err := op.q.store.Update(ctx, id, func(m *store.Message) error {
		for i := range m.Recipients {
			holdRecipient(&m.Recipients[i])
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("queue: hold %s: %w", id, err)
	}
	op.q.log.Info("held", "msgid", id)
	return nil
}

// Release returns id's held recipients to the queue, due now, and wakes
// the scheduler.
func (op *Ops) Release(ctx context.Context, id string) error {
	now := op.q.clock.Now()
	err := op.q.store.Update(ctx, id, func(m *store.Message) error {
		for i := range m.Recipients {
			releaseRecipient(&m.Recipients[i], now)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("queue: release %s: %w", id, err)
	}
	op.q.log.Info("released", "msgid", id)
	op.q.Wake()
	return nil
}

// Delete removes id from the spool, body and records. A delivery already
// under way completes but its outcome is dropped.
func (op *Ops) Delete(ctx context.Context, id string) error {
	if err := op.q.store.Delete(ctx, id); err != nil {
		return fmt.Errorf("queue: delete %s: %w", id, err)
	}
	op.q.health.forget(id)
	op.q.log.Info("deleted", "msgid", id)
	return nil
}

// Bounces returns the bounce log from since on, oldest first.
func (op *Ops) Bounces(ctx context.Context, since time.Time) ([]store.Bounce, error) {
	bs, err := op.q.store.Bounces(ctx, since)
	if err != nil {
		return nil, fmt.Errorf("queue: bounces: %w", err)
	}
	return bs, nil
}
