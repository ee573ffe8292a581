package queue

import (
	"context"
	"errors"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// eventKind is what happened to one recipient, for the log line and Stats.
type eventKind uint8

const (
	evDelivered eventKind = iota + 1
	evDeferred
	evBounced
	evExpired    // bounced because its lifetime ran out
	evSkipped    // deferred without attempt: destination backed off
	evSuppressed // bounced without attempt: on the suppression list (suppress.go)

	// evThrottled: deferred without attempt by its destination's budget
	// (shaping).
	evThrottled
)

// event is one recipient's outcome, logged after it is committed.
type event struct {
	kind     eventKind
	rcpt     string
	host     string
	tls      string
	reply    string
	next     time.Time
	attempts int
	code     int    // SMTP reply code of a bounce, for its class
	enhanced string // enhanced status code of a bounce, for its class
	// nextHopDSN: delivered to a server that took the DSN request, so a
	// success notice is its to send (delivery.RcptResult.NextHopDSN).
	nextHopDSN bool
}

// errNoChange aborts an Update that would write the record unchanged.
var errNoChange = errors.New("queue: no change")

// recordFunc changes recipient r (the k-th of the group) of the stored
// message sm, and says what happened; false leaves it unchanged.
type recordFunc func(k int, r *store.Recipient, sm *store.Message) (event, bool)

// record applies fn to each recipient of g in one Store.Update, marks the
// message DSNPending in that same update when a notice is owed (see
// noticeOwed), then logs one line per recipient, counts, and queues the
// notice. A store may run the update more than once: fn must only change r.
func (q *Queue) record(ctx context.Context, m *store.Message, g group, fn recordFunc) {
	var (
		events []event
		notice []store.Recipient // the recipients the notice reports
		after  store.Message     // the committed envelope, for the notice
	)
	err := q.store.Update(ctx, m.ID, func(sm *store.Message) error {
		events, notice = events[:0], notice[:0]
		for k, i := range g.Index {
			// The record may have changed since the worker read it; a
			// recipient is matched by position and address.
			if i >= len(sm.Recipients) || sm.Recipients[i].Addr != g.Rcpts[k] {
				continue
			}
			r := &sm.Recipients[i]
			if r.State.Final() {
				continue
			}
			ev, ok := fn(k, r, sm)
			if !ok {
				continue
			}
			events = append(events, ev)
			if noticeOwed(r, ev) {
				notice = append(notice, cloneRecipient(r))
			}
		}
		if len(events) == 0 {
			return errNoChange // nothing to write
		}
		if len(notice) > 0 && q.noticesOn(sm) {
			sm.DSNPending = true
		}
		after = cloneMessage(sm)
		return nil
	})
	if err != nil {
		if errors.Is(err, errNoChange) {
			return
		}
		if errors.Is(err, store.ErrNotFound) {
			q.health.forget(m.ID)
			q.log.Info("message deleted during delivery; outcome dropped", "msgid", m.ID)
			return
		}
		if errors.Is(err, store.ErrLeaseLost) {
			// Another node took the message over while this one stalled
			// past its lease (store/pgstore): its outcome stands.
			q.health.forget(m.ID)
			q.log.Warn("lease lost during delivery; outcome dropped", "msgid", m.ID, "err", err)
			return
		}
		if errors.Is(err, store.ErrCorrupt) {
			// Its body could not be read: the store quarantined it and
			// logged why; this attempt's outcome means nothing.
			q.health.forget(m.ID)
			q.log.Warn("message quarantined during delivery; outcome dropped", "msgid", m.ID)
			return
		}
		q.outcomeNotCommitted(m.ID, err)
		return
	}
	q.commitOK(m.ID)
	for _, ev := range events {
		q.logEvent(m.ID, ev)
	}
	if len(notice) > 0 && q.noticesOn(&after) {
		q.sendNotice(ctx, &after, notice)
	}
}

// noticeOwed reports whether recipient r, just recorded with event ev, is
// reported to the sender now (RFC 3461 §4.1): a bounce unless its NOTIFY
// leaves out FAILURE (NEVER included); a delivery when NOTIFY has SUCCESS
// and the next hop did not take the DSN request, the "relayed" notice of
// RFC 3461 §6.2.1 (when it did take it, the success notice is its own).
func noticeOwed(r *store.Recipient, ev event) bool {
	switch {
	case r.State == store.StateBounced && ev.kind == evSuppressed:
		// Not attempted: the list holds the address because of an earlier
		// bounce (which was notified) or by the sender's own choice, so
		// the notice is sent only when NOTIFY asked for failures
		// explicitly, not by default.
		return r.Notify&store.NotifyFailure != 0
	case r.State == store.StateBounced:
		return wantsFailure(r.Notify)
	case r.State == store.StateDelivered:
		return wantsSuccess(r.Notify) && !ev.nextHopDSN
	}
	return false
}

// logEvent writes the one log line of a recipient's outcome and counts it.
func (q *Queue) logEvent(id string, ev event) {
	attrs := []any{"msgid", id, "rcpt", ev.rcpt, "attempts", ev.attempts, "reply", ev.reply}
	if ev.host != "" {
		attrs = append(attrs, "host", ev.host, "tls", ev.tls)
	}
	switch ev.kind {
	case evDelivered:
		q.st.delivered.Add(1)
		q.log.Info("delivered", attrs...)
	case evDeferred:
		q.st.deferred.Add(1)
		q.log.Info("deferred", append(attrs, "next", ev.next)...)
	case evSkipped:
		q.st.destSkips.Add(1)
		q.log.Info("deferred", append(attrs, "next", ev.next, "reason", "destination backed off")...)
	case evThrottled:
		q.st.throttled.Add(1)
		q.log.Info("deferred", append(attrs, "next", ev.next, "reason", "throttled")...)
	case evBounced:
		class := bounceClass(false, ev.code, ev.enhanced)
		q.st.bounced.Add(1)
		q.st.bounceClass.add(class)
		q.log.Warn("bounced", append(attrs, "reason", class)...)
	case evExpired:
		q.st.bounced.Add(1)
		q.st.expired.Add(1)
		q.st.bounceClass.add(BounceExpired)
		q.log.Warn("bounced", append(attrs, "reason", BounceExpired)...)
	case evSuppressed:
		q.st.bounced.Add(1)
		q.st.bounceClass.add(BounceSuppressed)
		q.log.Info("bounced", append(attrs, "reason", BounceSuppressed)...)
	}
}

func cloneMessage(m *store.Message) store.Message {
	c := *m
	c.Recipients = make([]store.Recipient, len(m.Recipients))
	for i := range m.Recipients {
		c.Recipients[i] = cloneRecipient(&m.Recipients[i])
	}
	return c
}

func cloneRecipient(r *store.Recipient) store.Recipient {
	c := *r
	c.History = append([]store.Attempt(nil), r.History...)
	return c
}
