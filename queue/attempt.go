package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/queue/shaping"
	"github.com/outbox-mta/outbox/store"
)

// deliverMessage is one worker's turn on one message: its recipients that
// are due now, grouped by destination domain, one Deliver per group.
//
// Groups are delivered one after the other, not concurrently: the worker
// pool then bounds the number of SMTP sessions exactly (Workers), each group's
// outcome is recorded before the next begins, and a message with many
// domains is rare enough that its latency matters less than that bound.
func (q *Queue) deliverMessage(ctx context.Context, id string) {
	q.st.inFlight.Add(1)
	defer q.st.inFlight.Add(-1)
	defer q.busy.enter(id, q.clock.Now())()

	m, err := q.store.Get(ctx, id)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
			q.log.Error("cannot load message", "msgid", id, "err", err)
		}
		return
	}
	now := q.clock.Now()
	var addrs []string
	var idx []int
	for i := range m.Recipients {
		r := &m.Recipients[i]
		if (r.State == store.StateQueued || r.State == store.StateDeferred) && !r.NextAttempt.After(now) {
			addrs = append(addrs, r.Addr)
			idx = append(idx, i)
		}
	}
	addrs, idx = q.dropSuppressed(ctx, m, addrs, idx)
	for _, g := range groupByDomain(addrs, idx) {
		if ctx.Err() != nil {
			return // abandoned: the remaining groups stay due in the spool
		}
		if q.health.waiting(id, q.clock.Now()) {
			return // an outcome of this message could not be committed
		}
		if dd, down := q.dest.down(ctx, g.Domain, q.clock.Now()); down {
			q.skipGroup(ctx, m, g, dd)
			continue
		}
		if d, ok := q.admitGroup(ctx, m, g); ok {
			q.deliverGroup(ctx, m, g, d)
		}
	}
}

// atLeastOne is the policy for m: its own override, else the default.
func (q *Queue) atLeastOne(m *store.Message) bool {
	if m.AtLeastOne != nil {
		return *m.AtLeastOne
	}
	return *q.opts.AtLeastOne
}

// deliverGroup makes one attempt for group g of m and records its outcome;
// shaped is the budget the shaper admitted it to (nil without one).
func (q *Queue) deliverGroup(ctx context.Context, m *store.Message, g group, shaped *shaping.Dest) {
	id := m.ID
	env := &delivery.Envelope{
		MsgID:      id,
		From:       m.From,
		Domain:     g.Domain,
		Rcpts:      g.Rcpts,
		AtLeastOne: q.atLeastOne(m),
		Body:       func() (io.ReadCloser, error) { return q.store.OpenBody(ctx, id) },
		Size:       m.Size,
		SMTPUTF8:   m.SMTPUTF8,
		EightBit:   eightBit(m),

		RequireTLS:    m.TLSReq == store.TLSReqRequire,
		TLSRequiredNo: m.TLSReq == store.TLSReqOptional,
	}
	setEnvelopeDSN(env, m, g)
	shapeEnvelope(env, shaped)
	q.st.attempts.Add(1)
	start := q.clock.Now()
	res := q.del.Deliver(ctx, env)
	q.st.duration.observe(q.clock.Now().Sub(start))
	if res == nil {
		res = &delivery.Result{}
	}
	q.st.tls.add(tlsClass(res.TLS))
	abandoned := ctx.Err() != nil
	now := q.clock.Now()
	outs := outcomes(g, res)
	if res.Ambiguous {
		q.st.ambiguous.Add(1)
	}
	if res.DestinationDown {
		q.st.destDown.Add(1)
	}

	retry := q.groupRetry(m, g, outs, abandoned, now)
	// Nothing else happens between Deliver's return and this Update: a
	// remote 250 is only safe once it is committed here, and the context
	// is detached so a shutdown cannot widen that duplicate window.
	q.record(context.WithoutCancel(ctx), m, g, func(k int, r *store.Recipient, sm *store.Message) (event, bool) {
		o := outs[k]
		if abandoned && o.Status != delivery.Delivered && o.Status != delivery.Bounced {
			return event{}, false // no outcome: left due, not counted
		}
		ev := q.applyOutcome(r, o, res, deadline(sm, q.opts.MaxLifetime), now, retry)
		ev.nextHopDSN = o.NextHopDSN
		q.listOutcome(sm, r, o, ev)
		return ev, true
	})
	q.finishShaped(ctx, shaped, outs)
	q.destinationUp(ctx, g.Domain, res)

	if res.DestinationDown && !retry.IsZero() {
		// Back the whole destination off until its earliest retry, so the
		// queue's other messages for it wait instead of hammering it.
		reply := ""
		if len(outs) > 0 {
			reply = outs[0].Reply.String()
		}
		q.dest.set(context.WithoutCancel(ctx), g.Domain, retry, reply, now)
		q.log.Info("destination down", "domain", g.Domain, "msgid", id, "until", retry, "reply", reply)
	}
}

// groupRetry is the retry time of the recipients of g this attempt defers,
// or zero when it defers none (every outcome final, the message expired, or
// the attempt abandoned). They all get the same time, one back-off draw for
// the group made from the first of them, so they are retried together in
// one transaction: all-or-nothing (at_least_one = false) depends on it, and
// it saves sessions otherwise. It is also the destination's back-off when
// the destination is down.
func (q *Queue) groupRetry(m *store.Message, g group, outs []delivery.RcptResult, abandoned bool, now time.Time) time.Time {
	end := deadline(m, q.opts.MaxLifetime)
	if abandoned || expired(end, now) {
		return time.Time{}
	}
	for k, o := range outs {
		if o.Status == delivery.Delivered || o.Status == delivery.Bounced {
			continue
		}
		i := g.Index[k]
		if i >= len(m.Recipients) || m.Recipients[i].State.Final() {
			continue
		}
		// The attempt being recorded is the recipient's next one.
		return nextAttempt(now, end, m.Recipients[i].Attempts+1, &q.opts)
	}
	return time.Time{}
}

// outcomes returns exactly one result per recipient of g. A Deliverer that
// breaks its contract (missing or reordered entries) defers the recipients
// it did not answer for rather than losing or misattributing them.
func outcomes(g group, res *delivery.Result) []delivery.RcptResult {
	outs := make([]delivery.RcptResult, len(g.Rcpts))
	for k, rc := range g.Rcpts {
		if k < len(res.Rcpts) && res.Rcpts[k].Rcpt == rc {
			outs[k] = res.Rcpts[k]
			continue
		}
		outs[k] = delivery.RcptResult{
			Rcpt:   rc,
			Status: delivery.Deferred,
			Reply:  delivery.Reply{Text: "queue: no result for this recipient from delivery"},
		}
	}
	return outs
}

// applyOutcome records one attempt's outcome o on recipient r of a message
// given up at end (deadline), the attempt ending at now. A deferred recipient is
// retried at retry (groupRetry).
func (q *Queue) applyOutcome(r *store.Recipient, o delivery.RcptResult, res *delivery.Result, end, now, retry time.Time) event {
	r.Attempts++
	r.LastReply = o.Reply.String()
	a := store.Attempt{
		Time: now, Host: res.Host, TLS: res.TLS,
		Code: o.Reply.Code, Enhanced: o.Reply.Enhanced, Reply: o.Reply.Text,
		TLSInfo: attemptTLS(res.TLSOutcome),
	}
	ev := event{rcpt: r.Addr, host: res.Host, tls: res.TLS, reply: r.LastReply,
		code: o.Reply.Code, enhanced: o.Reply.Enhanced}
	switch {
	case o.Status == delivery.Delivered:
		r.State, a.Result, ev.kind = store.StateDelivered, store.StateDelivered, evDelivered
	case o.Status == delivery.Bounced:
		r.State, a.Result, ev.kind = store.StateBounced, store.StateBounced, evBounced
	case expired(end, now):
		a = expiryAttempt(now, res.Host, r.LastReply)
		a.Enhanced, a.TLSInfo = expiryEnhanced(o.Reply), attemptTLS(res.TLSOutcome)
		r.State, r.LastReply = store.StateBounced, a.Enhanced+" "+a.Reply
		ev.kind, ev.reply = evExpired, r.LastReply
	default:
		a.Result, ev.kind = store.StateDeferred, evDeferred
		r.NextAttempt = retry
		ev.next = r.NextAttempt
		// An operator's hold during the attempt stands; the attempt is
		// still recorded.
		if r.State != store.StateHeld {
			r.State = store.StateDeferred
		}
	}
	ev.attempts = r.Attempts
	appendHistory(r, a)
	return ev
}

// expiredEnhanced is the RFC 3463 status of a give-up: "delivery time
// expired", persistent transient, as Postfix and Exim report it.
const expiredEnhanced = "4.4.7"

// expiryAttempt is the history entry (and so the bounce-log row) of a
// recipient given up on: local decision, no SMTP code of its own, the last
// error in the text.
func expiryAttempt(now time.Time, host, last string) store.Attempt {
	if last == "" {
		last = "none"
	}
	return store.Attempt{
		Time: now, Host: host, Enhanced: expiredEnhanced, Result: store.StateBounced,
		Reply: "delivery time expired; last error: " + last,
	}
}

// appendHistory adds a to r's history, keeping the newest store.MaxHistory.
func appendHistory(r *store.Recipient, a store.Attempt) {
	r.History = append(r.History, a)
	if n := len(r.History); n > store.MaxHistory {
		r.History = append([]store.Attempt(nil), r.History[n-store.MaxHistory:]...)
	}
}

// skipGroup defers g's recipients to the end of their destination's
// back-off without an attempt (Attempts unchanged), or bounces them as
// expired when their lifetime is over.
func (q *Queue) skipGroup(ctx context.Context, m *store.Message, g group, dd destDown) {
	now := q.clock.Now()
	q.record(ctx, m, g, func(_ int, r *store.Recipient, sm *store.Message) (event, bool) {
		if r.State != store.StateQueued && r.State != store.StateDeferred {
			return event{}, false
		}
		if expired(deadline(sm, q.opts.MaxLifetime), now) {
			last := r.LastReply
			if last == "" {
				last = dd.reply
			}
			a := expiryAttempt(now, "", last)
			r.State, r.LastReply = store.StateBounced, expiredEnhanced+" "+a.Reply
			appendHistory(r, a)
			ev := event{kind: evExpired, rcpt: r.Addr, reply: r.LastReply, attempts: r.Attempts}
			q.listOutcome(sm, r, delivery.RcptResult{}, ev)
			return ev, true
		}
		r.State = store.StateDeferred
		r.NextAttempt = dd.until
		r.LastReply = fmt.Sprintf("not attempted: destination %s backed off until %s; last error: %s",
			g.Domain, dd.until.UTC().Format(time.RFC3339), dd.reply)
		return event{kind: evSkipped, rcpt: r.Addr, reply: r.LastReply, next: dd.until, attempts: r.Attempts}, true
	})
}

// eightBit says whether delivery must treat m's body as possibly 8-bit
// (BODY=8BITMIME, or its 7-bit form for a server without 8BITMIME). A
// record from before the body type was kept may be 8-bit too, unless it
// was signed: a signed message goes as it is, as it always did, since
// converting it would break its signature.
func eightBit(m *store.Message) bool {
	switch m.BodyType {
	case store.Body8BitMIME:
		return true
	case store.BodyUnknown:
		return len(m.Signed) == 0
	}
	return false
}
