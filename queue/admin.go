package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/outbox-mta/outbox/queue/dsn"
	"github.com/outbox-mta/outbox/store"
)

// The operator's commands (queue/admin serves them over the admin socket).
// Errors wrap the store's sentinels: errors.Is(err, store.ErrNotFound) for
// an unknown ID.

// List returns the messages matching f (see store.Filter), one page.
func (q *Queue) List(ctx context.Context, f store.Filter) ([]*store.Message, error) {
	f.Domain = strings.ToLower(f.Domain)
	ms, err := q.store.List(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("queue: list: %w", err)
	}
	return ms, nil
}

// Quarantined lists the messages the store set aside because their record
// or body cannot be read (store.Quarantined): never attempted again, kept
// for the operator.
func (q *Queue) Quarantined(ctx context.Context) ([]store.Quarantined, error) {
	qs, err := q.store.Quarantined(ctx)
	if err != nil {
		return nil, fmt.Errorf("queue: quarantined: %w", err)
	}
	return qs, nil
}

// Get returns one message's record.
func (q *Queue) Get(ctx context.Context, id string) (*store.Message, error) {
	m, err := q.store.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("queue: get %s: %w", id, err)
	}
	return m, nil
}

// Headers returns the header block of id's stored body, up to (not
// including) the blank line that ends it, with its line endings as stored,
// capped as bounce notices cap it (dsn.MaxHeaderBytes).
func (q *Queue) Headers(ctx context.Context, id string) (string, error) {
	rc, err := q.store.OpenBody(ctx, id)
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

// Flush makes id's pending (queued or deferred) recipients due now, lifts
// the back-off of their destinations (an operator who flushes wants an
// attempt), and wakes the scheduler.
func (q *Queue) Flush(ctx context.Context, id string) error {
	// Lift the back-off before the recipients become due: a worker that
	// picked them up in between would defer them again without an attempt.
	m, err := q.store.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("queue: flush %s: %w", id, err)
	}
	for i := range m.Recipients {
		if s := m.Recipients[i].State; s == store.StateQueued || s == store.StateDeferred {
			q.dest.clear(domainOf(m.Recipients[i].Addr))
		}
	}
	now := q.clock.Now()
	err = q.store.Update(ctx, id, func(m *store.Message) error {
		for i := range m.Recipients {
			flushRecipient(&m.Recipients[i], now)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("queue: flush %s: %w", id, err)
	}
	q.commitOK(id) // the commit worked: no need to wait out a back-off
	q.Wake()
	return nil
}

// FlushDomain flushes, in every message, the pending recipients in domain,
// and returns how many messages had one.
func (q *Queue) FlushDomain(ctx context.Context, domain string) (int, error) {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	if domain == "" {
		return 0, errors.New("queue: flush domain: empty domain")
	}
	q.dest.clear(domain)
	return q.flushPages(ctx, store.Filter{Domain: domain}, func(r *store.Recipient) bool {
		return domainOf(r.Addr) == domain
	})
}

// FlushAll flushes every pending recipient and returns how many messages
// had one.
func (q *Queue) FlushAll(ctx context.Context) (int, error) {
	q.dest.clear("")
	return q.flushPages(ctx, store.Filter{}, func(*store.Recipient) bool { return true })
}

// flushPages pages through List(f) and flushes the recipients sel picks.
func (q *Queue) flushPages(ctx context.Context, f store.Filter, sel func(*store.Recipient) bool) (int, error) {
	n := 0
	defer q.Wake()
	for {
		page, err := q.store.List(ctx, f)
		if err != nil {
			return n, fmt.Errorf("queue: flush: %w", err)
		}
		if len(page) == 0 {
			return n, nil
		}
		for _, pm := range page {
			now := q.clock.Now()
			changed := false
			err := q.store.Update(ctx, pm.ID, func(m *store.Message) error {
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

// flushRecipient makes r due at now if it is pending, reporting whether it
// was.
func flushRecipient(r *store.Recipient, now time.Time) bool {
	if r.State != store.StateQueued && r.State != store.StateDeferred {
		return false
	}
	if r.NextAttempt.After(now) {
		r.NextAttempt = now
	}
	return true
}

// Hold puts id's recipients that are not final on hold: they are not
// attempted until Release. A delivery already under way completes, and
// its outcome is recorded (a held recipient that it deferred stays held).
func (q *Queue) Hold(ctx context.Context, id string) error {
	err := q.store.Update(ctx, id, func(m *store.Message) error {
		for i := range m.Recipients {
			if r := &m.Recipients[i]; !r.State.Final() {
				r.State = store.StateHeld
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("queue: hold %s: %w", id, err)
	}
	q.log.Info("held", "msgid", id)
	return nil
}

// Release returns id's held recipients to the queue, due now, and wakes
// the scheduler.
func (q *Queue) Release(ctx context.Context, id string) error {
	now := q.clock.Now()
	err := q.store.Update(ctx, id, func(m *store.Message) error {
		for i := range m.Recipients {
			if r := &m.Recipients[i]; r.State == store.StateHeld {
				r.State = store.StateQueued
				r.NextAttempt = now
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("queue: release %s: %w", id, err)
	}
	q.log.Info("released", "msgid", id)
	q.Wake()
	return nil
}

// Delete removes id from the spool, body and records. A delivery already
// under way completes but its outcome is dropped.
func (q *Queue) Delete(ctx context.Context, id string) error {
	if err := q.store.Delete(ctx, id); err != nil {
		return fmt.Errorf("queue: delete %s: %w", id, err)
	}
	q.health.forget(id)
	q.log.Info("deleted", "msgid", id)
	return nil
}

// Bounces returns the bounce log from since on, oldest first.
func (q *Queue) Bounces(ctx context.Context, since time.Time) ([]store.Bounce, error) {
	bs, err := q.store.Bounces(ctx, since)
	if err != nil {
		return nil, fmt.Errorf("queue: bounces: %w", err)
	}
	return bs, nil
}
