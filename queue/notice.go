package queue

import (
	"context"
	"errors"
	"fmt"

	"github.com/outbox-mta/outbox/queue/dsn"
	"github.com/outbox-mta/outbox/store"
)

// Notices: the delivery status notifications (RFC 3464) Outbox writes to a
// message's sender. "Notice" is the message to the sender; "NOTIFY" is the
// RFC 3461 parameter of each recipient that decides whether one is wanted
// (dsnparams.go). The queue sends two kinds, built and spooled here and
// nowhere else:
//
//   - bounce notices (Action failed, and relayed for NOTIFY=SUCCESS),
//     after the attempt that settled the recipients (record.go), or at
//     start for one a crash left pending (noticerecover.go);
//   - delay warnings (Action delayed), when queue/maintenance decides one
//     is due and calls WarnDelay.

// noticesOn reports whether a bounce of m must be notified: notices are on
// and the sender is not null. A message from <> never gets one (RFC 5321
// §4.5.5, RFC 3464 §2.4: that is how notice loops are prevented).
func (q *Queue) noticesOn(m *store.Message) bool {
	return q.opts.DSN && m.From != ""
}

// sendNotice queues the bounce notice about rcpts (one attempt's bounced
// recipients, and delivered ones owed a "relayed" notice) of m, whose
// record already has DSNPending set, then clears DSNPending and records
// the notice's ID. A crash before the clearing leaves DSNPending set and
// recoverNotices sends it again at the next start: at worst a duplicate
// notice, never a lost failure notice. On failure DSNPending stays set
// likewise.
func (q *Queue) sendNotice(ctx context.Context, m *store.Message, rcpts []store.Recipient) {
	n := q.newNotice(m, rcpts)
	// RFC 3461 §4.3: RET=FULL returns the whole message with a failure.
	noticeID, err := q.spoolNotice(ctx, m, n, m.Ret == store.RetFull)
	if err != nil {
		q.log.Error("cannot queue delivery status notification; retried at next start", "msgid", m.ID, "err", err)
		return
	}
	q.log.Info("dsn queued", "msgid", m.ID, "dsnid", noticeID, "rcpt", m.From, "reported", len(rcpts))
	err = q.store.Update(ctx, m.ID, func(sm *store.Message) error {
		sm.DSNPending = false
		sm.DSNID = noticeID
		return nil
	})
	if err != nil {
		q.log.Error("cannot clear DSN pending; the notice may be sent twice", "msgid", m.ID, "dsnid", noticeID, "err", err)
	}
}

// Delayed returns m's recipients a delay warning reports: those deferred
// (tried and failed temporarily; a never-tried Queued one is not "delayed"
// yet) whose NOTIFY asks for delays or gave none (RFC 3461 §4.1: NEVER,
// or a list without DELAY, means no warning).
func Delayed(m *store.Message) []store.Recipient {
	var out []store.Recipient
	for i := range m.Recipients {
		if r := &m.Recipients[i]; r.State == store.StateDeferred && WantsDelay(r) {
			out = append(out, cloneRecipient(r))
		}
	}
	return out
}

// WarnDelay queues a delay warning (RFC 3464, Action delayed) to m's
// sender about its Delayed recipients, each with Will-Retry-Until at the
// message's deadline (Start+MaxLifetime, or ExpireAt when earlier), then sets m's DelayWarned. When to warn is the
// caller's decision (queue/maintenance). The flag is set after the
// warning is queued: a crash in between sends it twice rather than never.
// An error means nothing was queued and DelayWarned is still unset.
func (q *Queue) WarnDelay(ctx context.Context, m *store.Message) error {
	rcpts := Delayed(m)
	switch {
	case m.From == "":
		return errors.New("queue: no delay warning to the null sender") // RFC 3461 §6.2
	case len(rcpts) == 0:
		return fmt.Errorf("queue: message %s has no delayed recipient to report", m.ID)
	}
	n := q.newNotice(m, rcpts)
	for i := range n.Recipients {
		n.Recipients[i].WillRetryUntil = deadline(m, q.opts.MaxLifetime)
	}
	noticeID, err := q.spoolNotice(ctx, m, n, false)
	if err != nil {
		return err
	}
	err = q.store.Update(context.WithoutCancel(ctx), m.ID, func(sm *store.Message) error {
		sm.DelayWarned = true
		describeDelay(sm, rcpts)
		return nil
	})
	if err != nil {
		q.log.Error("delay warning queued but not recorded; it may be sent again", "msgid", m.ID, "noticeid", noticeID, "err", err)
	}
	q.log.Info("delay warning queued", "msgid", m.ID, "noticeid", noticeID, "rcpt", m.From, "delayed", len(rcpts))
	return nil
}

// newNotice is the notice to m's sender about rcpts.
func (q *Queue) newNotice(m *store.Message, rcpts []store.Recipient) *dsn.Notice {
	return &dsn.Notice{
		ReportingMTA: q.opts.Hostname,
		QueueID:      m.ID,
		EnvelopeID:   m.EnvID,
		Sender:       m.From,
		Arrival:      m.Received,
		Now:          q.clock.Now(),
		Recipients:   NoticeRecipients(rcpts),
	}
}

// spoolNotice attaches m's header block to n (with full, the whole
// message: RET=FULL), builds it and queues it from the null sender to m's
// sender, counting it in Stats.DSNs, and returns its ID. A body that
// cannot be read only loses that part, not the notice.
func (q *Queue) spoolNotice(ctx context.Context, m *store.Message, n *dsn.Notice, full bool) (string, error) {
	if n.ReportingMTA == "" {
		return "", errors.New("queue: cannot write a notice: Options.Hostname is empty")
	}
	if rc, err := q.store.OpenBody(ctx, m.ID); err == nil {
		if full {
			n.Full, n.FullComplete, _ = dsn.ReadMessage(rc)
			n.Headers = n.Full
		} else {
			n.Headers, _ = dsn.ReadHeaders(rc)
		}
		rc.Close()
	}
	body, err := dsn.Build(n)
	if err != nil {
		return "", fmt.Errorf("build notice: %w", err)
	}
	b, err := q.store.NewBody()
	if err != nil {
		return "", fmt.Errorf("new body: %w", err)
	}
	if _, err := b.Write(body); err != nil {
		_ = b.Discard()
		return "", fmt.Errorf("write body: %w", err)
	}
	notice := &store.Message{
		From:       "", // RFC 3464 §2: notices come from the null sender
		Recipients: []store.Recipient{{Addr: m.From}},
		Size:       int64(len(body)),
	}
	if err := q.enqueue(ctx, notice, b); err != nil {
		_ = b.Discard()
		return "", err
	}
	q.st.dsns.Add(1)
	return notice.ID, nil
}

// NoticeRecipients turns the spool's records of rcpts into the recipient
// blocks of a delivery status notification (RFC 3464 §2.3): the ORCPT the
// sender gave, the action its state says (bounced: failed; delivered:
// relayed; otherwise delayed), and the last attempt's status and reply with
// the server that gave it, or the local error or decision when no server
// replied: then no Remote-MTA is named, as for a DNS failure. Bounce
// notices, success notices and delay warnings share it.
func NoticeRecipients(rcpts []store.Recipient) []dsn.Recipient {
	out := make([]dsn.Recipient, 0, len(rcpts))
	for _, r := range rcpts {
		dr := dsn.Recipient{Addr: r.Addr, Original: r.ORcpt, Action: noticeAction(r.State), Diagnostic: r.LastReply}
		if k := len(r.History); k > 0 {
			a := r.History[k-1]
			dr.Status, dr.Code, dr.LastAttempt = a.Enhanced, a.Code, a.Time
			dr.Diagnostic = a.Reply
			if a.Code != 0 {
				dr.RemoteMTA = dsn.HostName(a.Host)
				dr.Diagnostic = fmt.Sprintf("%d %s %s", a.Code, a.Enhanced, a.Reply)
			}
		}
		out = append(out, dr)
	}
	return out
}

// noticeAction is the RFC 3464 §2.3.3 action reported for a recipient in
// state st.
func noticeAction(st store.State) dsn.Action {
	switch st {
	case store.StateBounced:
		return dsn.Failed
	case store.StateDelivered:
		return dsn.Relayed
	}
	return dsn.Delayed
}
