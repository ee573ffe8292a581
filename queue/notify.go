package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// dsnOwed reports whether a bounce of m must be notified: notices are on
// and the sender is not null. A message from <> never gets one (RFC 5321
// §4.5.5, RFC 3464 §2.4: that is how notice loops are prevented).
func (q *Queue) dsnOwed(m *store.Message) bool {
	return q.opts.DSN && m.From != ""
}

// sendDSN queues the notice about rcpts (one attempt's bounced recipients,
// and delivered ones owed a "relayed" notice) of m, whose record already
// has DSNPending set, then clears DSNPending and records the notice's ID.
// A crash before the clearing leaves DSNPending set and recoverDSNs sends
// it again at the next start: at worst a duplicate notice, never a lost
// failure notice. On failure DSNPending stays set likewise.
func (q *Queue) sendDSN(ctx context.Context, m *store.Message, rcpts []store.Recipient) {
	body, err := q.opts.Notify(m, rcpts)
	if err != nil {
		q.log.Error("cannot build delivery status notification; retried at next start", "msgid", m.ID, "err", err)
		return
	}
	dsnID, err := q.spool(ctx, body, m.From)
	if err != nil {
		q.log.Error("cannot queue delivery status notification; retried at next start", "msgid", m.ID, "err", err)
		return
	}
	q.st.dsns.Add(1)
	q.log.Info("dsn queued", "msgid", m.ID, "dsnid", dsnID, "rcpt", m.From, "reported", len(rcpts))
	err = q.store.Update(ctx, m.ID, func(sm *store.Message) error {
		sm.DSNPending = false
		sm.DSNID = dsnID
		return nil
	})
	if err != nil {
		q.log.Error("cannot clear DSN pending; the notice may be sent twice", "msgid", m.ID, "dsnid", dsnID, "err", err)
	}
}

// spool queues body as a new message from the null sender to rcpt and
// returns its ID.
func (q *Queue) spool(ctx context.Context, body []byte, rcpt string) (string, error) {
	b, err := q.store.NewBody()
	if err != nil {
		return "", fmt.Errorf("new body: %w", err)
	}
	if _, err := b.Write(body); err != nil {
		_ = b.Discard()
		return "", fmt.Errorf("write body: %w", err)
	}
	m := &store.Message{
		From:       "",
		Recipients: []store.Recipient{{Addr: rcpt}},
		Size:       int64(len(body)),
	}
	if err := q.enqueue(ctx, m, b); err != nil {
		_ = b.Discard()
		return "", err
	}
	return m.ID, nil
}

// recoverDSNs sends the notices left pending by a crash (see sendDSN). It
// pages through the whole spool once, at Run start.
func (q *Queue) recoverDSNs(ctx context.Context) {
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
		if !m.DSNPending || !q.dsnOwed(m) {
			continue
		}
		if batch := lastBounceBatch(m); len(batch) > 0 {
			q.log.Info("sending notice left pending", "msgid", m.ID)
			q.sendDSN(ctx, m, batch)
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
