package maintenance

import (
	"context"
	"fmt"

	"github.com/outbox-mta/outbox/queue"
	"github.com/outbox-mta/outbox/queue/dsn"
	"github.com/outbox-mta/outbox/store"
)

// DelayWarnings sends the sender of each message a delay notice (RFC 3464,
// Action delayed) once a recipient of it has been deferred for
// DelayWarning since reception, the way Postfix's delay_warning_time
// counts. Each message is warned once (store.Message.DelayWarned); a
// message from the null sender never is (RFC 3461 §6.2: no notice about a
// notice).
func (r *Runner) DelayWarnings(ctx context.Context) error {
	if r.opts.DelayWarning <= 0 {
		return nil
	}
	now := r.opts.Now()
	var due []*store.Message
	err := r.eachPending(ctx, func(m *store.Message) error {
		if !m.DelayWarned && m.From != "" && now.Sub(m.Received) >= r.opts.DelayWarning && len(delayed(m)) > 0 {
			due = append(due, m)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delay warnings: %w", err)
	}
	sent := 0
	for _, m := range due {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := r.warn(ctx, m); err != nil {
			// One message's failure must not stop the others; it is
			// retried at the next run since DelayWarned is still unset.
			r.log.Error("cannot send delay warning", "msgid", m.ID, "err", err)
			continue
		}
		sent++
	}
	if sent > 0 {
		r.log.Info("delay warnings", "sent", sent)
	}
	return nil
}

// delayed returns m's recipients that have been deferred (tried and
// failed temporarily; a never-tried Queued one is not "delayed" yet) and
// whose NOTIFY asks for delays, or gave none (RFC 3461 §4.1: NEVER, or a
// list without DELAY, means no warning).
func delayed(m *store.Message) []store.Recipient {
	var out []store.Recipient
	for _, rc := range m.Recipients {
		if rc.State == store.StateDeferred && queue.WantsDelay(&rc) {
			out = append(out, rc)
		}
	}
	return out
}

// warn queues the notice for m and then marks m warned.
func (r *Runner) warn(ctx context.Context, m *store.Message) error {
	n := &dsn.Notice{
		ReportingMTA: r.opts.Hostname,
		QueueID:      m.ID,
		EnvelopeID:   m.EnvID,
		Sender:       m.From,
		Arrival:      m.Received,
		Now:          r.opts.Now(),
	}
	n.Recipients = queue.NoticeRecipients(delayed(m))
	if r.opts.MaxLifetime > 0 {
		for i := range n.Recipients {
			n.Recipients[i].WillRetryUntil = m.Received.Add(r.opts.MaxLifetime)
		}
	}
	if rc, err := r.opts.Store.OpenBody(ctx, m.ID); err == nil {
		n.Headers, _ = dsn.ReadHeaders(rc)
		rc.Close()
	}
	body, err := dsn.Build(n)
	if err != nil {
		return fmt.Errorf("build notice: %w", err)
	}
	b, err := r.opts.Queue.NewBody()
	if err != nil {
		return fmt.Errorf("new body: %w", err)
	}
	if _, err := b.Write(body); err != nil {
		_ = b.Discard()
		return fmt.Errorf("write body: %w", err)
	}
	notice := &store.Message{
		From:       "", // RFC 3464 notices come from the null sender
		Recipients: []store.Recipient{{Addr: m.From}},
		Size:       int64(len(body)),
	}
	if err := r.opts.Queue.EnqueueNotice(ctx, notice, b); err != nil {
		_ = b.Discard()
		return fmt.Errorf("queue notice: %w", err)
	}
	err = r.opts.Store.Update(context.WithoutCancel(ctx), m.ID, func(sm *store.Message) error {
		sm.DelayWarned = true
		return nil
	})
	if err != nil {
		r.log.Error("delay warning queued but not recorded; it may be sent again", "msgid", m.ID, "noticeid", notice.ID, "err", err)
	}
	r.log.Info("delay warning queued", "msgid", m.ID, "noticeid", notice.ID, "rcpt", m.From, "delayed", len(n.Recipients))
	return nil
}
