package maintenance

import (
	"context"
	"fmt"

	"github.com/outbox-mta/outbox/queue"
	"github.com/outbox-mta/outbox/store"
)

// DelayWarnings decides which senders get a delay warning (RFC 3464,
// Action delayed): those of messages with a recipient queue.Delayed
// reports, DelayWarning after the message's start (reception, or its
// scheduled send time: store.Message.Start; the way Postfix's
// delay_warning_time counts from arrival); the queue writes and sends each one
// (Queue.WarnDelay). Each message is warned once
// (store.Message.DelayWarned); a message from the null sender never is
// (RFC 3461 §6.2: no notice about a notice).
func (r *Runner) DelayWarnings(ctx context.Context) error {
	if r.opts.DelayWarning <= 0 {
		return nil
	}
	now := r.opts.Now()
	var due []*store.Message
	err := r.eachPending(ctx, func(m *store.Message) error {
		if !m.DelayWarned && m.From != "" && now.Sub(m.Start()) >= r.opts.DelayWarning && len(queue.Delayed(m)) > 0 {
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
		if err := r.opts.Queue.WarnDelay(ctx, m); err != nil {
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
