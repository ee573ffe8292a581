package queue

import (
	"context"
	"errors"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// recoverNotices sends the bounce notices left pending by a crash (see
// sendNotice). It reads the store's index of them (PendingNotices) once,
// at Run start.
func (q *Queue) recoverNotices(ctx context.Context) {
	if !q.opts.DSN {
		return
	}
	ids, err := q.store.PendingNotices(ctx)
	if err != nil {
		if ctx.Err() == nil {
			q.log.Error("cannot list pending notices", "err", err)
		}
		return
	}
	for _, id := range ids {
		m, err := q.store.Get(ctx, id)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, store.ErrNotFound) {
				q.log.Error("cannot load message with a pending notice", "msgid", id, "err", err)
			}
			continue
		}
		if !m.DSNPending || !q.noticesOn(m) {
			continue
		}
		if batch := lastBounceBatch(m); len(batch) > 0 {
			q.log.Info("sending notice left pending", "msgid", m.ID)
			q.sendNotice(ctx, m, batch)
		} else {
			// Nothing to recover: a batch of "relayed" recipients only
			// (whether the next hop took the DSN request is not kept), or
			// bounces with NOTIFY without FAILURE.
			q.clearDSNPending(ctx, m.ID)
		}
	}
}

// clearDSNPending clears the DSNPending flag of message id.
func (q *Queue) clearDSNPending(ctx context.Context, id string) {
	err := q.store.Update(ctx, id, func(sm *store.Message) error {
		sm.DSNPending = false
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		q.log.Error("cannot clear DSN pending", "msgid", id, "err", err)
	}
}

// lastBounceBatch is the recipients that bounced in m's latest bounce and
// whose NOTIFY asks for failures: the queue stamps one attempt's
// recipients with the same time, so the batch a pending notice is about is
// the bounced recipients whose last history entry has the latest time.
func lastBounceBatch(m *store.Message) []store.Recipient {
	var latest time.Time
	for i := range m.Recipients {
		r := &m.Recipients[i]
		if r.State == store.StateBounced && len(r.History) > 0 {
			if t := r.History[len(r.History)-1].Time; t.After(latest) {
				latest = t
			}
		}
	}
	var batch []store.Recipient
	for i := range m.Recipients {
		r := &m.Recipients[i]
		if r.State != store.StateBounced || !wantsFailure(r.Notify) {
			continue
		}
		var t time.Time
		if len(r.History) > 0 {
			t = r.History[len(r.History)-1].Time
		}
		if t.Equal(latest) {
			batch = append(batch, cloneRecipient(r))
		}
	}
	return batch
}
