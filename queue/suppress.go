package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/store"
)

// The suppression list, as the queue uses it.
//
// Before an attempt, the due recipients of a message are looked up
// (dropSuppressed): one with an active entry is not attempted but bounced
// at once, class "suppressed", with no SMTP code and the entry's reason in
// its diagnostic; the others go on as usual. A message with
// IgnoreSuppressions set (the submitter's override) skips the lookup.
// The lookup is its own read, made as the attempt starts: an entry added
// or removed meanwhile applies from the message's next attempt, as a
// change made a moment later would.
//
// After an attempt, an outcome that says the mailbox does not exist lists
// its address (listOutcome), in the same Store.Update that records the
// outcome, so the two are never split by a crash. The rules
// (suppressibleBounce) are narrow on purpose: a wrongly listed address
// loses mail silently, a missed one costs one more bounce.

// SuppressionList is the suppression list as the queue reads it.
// *store.DB satisfies it.
type SuppressionList interface {
	// Suppressed returns the active entries of addrs at now, keyed by
	// the address as given.
	Suppressed(ctx context.Context, addrs []string, now time.Time) (map[string]store.Suppression, error)
}

var _ SuppressionList = (*store.DB)(nil)

// BounceSuppressed is the bounce class of a recipient not attempted
// because its address is on the suppression list.
const BounceSuppressed = store.ClassSuppressed

// suppressedEnhanced is the status of a recipient not attempted because
// it is suppressed: a local policy refused delivery (RFC 3463 X.7.1).
const suppressedEnhanced = "5.7.1"

// suppressibleBounce reports whether a recipient's permanent failure lists
// its address: the remote server refused that recipient at RCPT TO (not
// the whole transaction at MAIL FROM or DATA, not a local error) with a
// 5xx reply whose enhanced status code (RFC 3463) says the mailbox does
// not exist or cannot take mail:
//
//	5.1.0 other address status, 5.1.1 bad destination mailbox address,
//	5.1.3 bad destination mailbox address syntax, 5.1.6 destination
//	mailbox has moved, no forwarding address, 5.2.1 mailbox disabled.
//
// And 5.1.10, the null MX of RFC 7505 §4.2: the domain publishes that it
// takes no mail at all, whichever phase reports it.
//
// Never listed: policy refusals (5.7.x: spam, reputation, relaying
// denied, authentication), content refusals (5.6.x, 5.3.4 too big), a
// full mailbox (5.2.2, it may be emptied), a bad destination system
// (5.1.2: a DNS failure or typo of the domain, not of the mailbox), a
// refusal of the sender (5.1.7, 5.1.8), and any 5xx without an enhanced
// code, whose meaning is a guess.
func suppressibleBounce(o delivery.RcptResult) bool {
	if o.Status != delivery.Bounced {
		return false
	}
	if o.Reply.Enhanced == "5.1.10" {
		return true
	}
	if !o.AtRcpt || o.Reply.Code < 500 || o.Reply.Code > 599 {
		return false
	}
	switch o.Reply.Enhanced {
	case "5.1.0", "5.1.1", "5.1.3", "5.1.6", "5.2.1":
		return true
	}
	return false
}

// listOutcome adds to sm the suppression-list entry that recipient r's
// outcome ev calls for, if any: a suppressible bounce (o, the remote's
// answer) at once, an expiry after Options.SuppressAfterExpirations
// consecutive ones. It runs inside the Update that records the outcome.
func (q *Queue) listOutcome(sm *store.Message, r *store.Recipient, o delivery.RcptResult, ev event) {
	if q.opts.Suppressions == nil {
		return
	}
	var l store.Listing
	switch {
	case ev.kind == evBounced && suppressibleBounce(o):
		l.Reason = store.ReasonBounce
	case ev.kind == evExpired && q.opts.SuppressAfterExpirations > 0:
		l.Reason, l.After = store.ReasonExpirations, q.opts.SuppressAfterExpirations
	default:
		return
	}
	l.Addr, l.Reply, l.MsgID = r.Addr, ev.reply, sm.ID
	l.Created = q.clock.Now()
	if q.opts.SuppressFor > 0 {
		l.Expires = l.Created.Add(q.opts.SuppressFor)
	}
	sm.Suppress = append(sm.Suppress, l)
}

// dropSuppressed returns the due recipients of m (addrs, at positions idx)
// that may be attempted, after bouncing those on the suppression list. A
// list that cannot be read is logged and ignored: the store is failing,
// and the attempt's own commit will tell.
func (q *Queue) dropSuppressed(ctx context.Context, m *store.Message, addrs []string, idx []int) ([]string, []int) {
	if q.opts.Suppressions == nil || m.IgnoreSuppressions || len(addrs) == 0 {
		return addrs, idx
	}
	now := q.clock.Now()
	hits, err := q.opts.Suppressions.Suppressed(ctx, addrs, now)
	if err != nil {
		if ctx.Err() == nil {
			q.log.Warn("cannot read the suppression list; attempting every recipient", "msgid", m.ID, "err", err)
		}
		return addrs, idx
	}
	if len(hits) == 0 {
		return addrs, idx
	}
	var keep []string
	var keepIdx []int
	var g group
	for k, a := range addrs {
		if _, ok := hits[a]; ok {
			g.Rcpts, g.Index = append(g.Rcpts, a), append(g.Index, idx[k])
			continue
		}
		keep, keepIdx = append(keep, a), append(keepIdx, idx[k])
	}
	q.record(ctx, m, g, func(k int, r *store.Recipient, sm *store.Message) (event, bool) {
		if r.State != store.StateQueued && r.State != store.StateDeferred {
			return event{}, false
		}
		s := hits[g.Rcpts[k]]
		text := suppressedText(&s)
		r.State, r.LastReply = store.StateBounced, suppressedEnhanced+" "+text
		appendHistory(r, store.Attempt{Time: now, Enhanced: suppressedEnhanced, Reply: text, Result: store.StateBounced})
		// Its "bounced" event, written in this transaction, says why.
		sm.Events = append(sm.Events, store.Event{Type: store.EventBounced, Recipient: r.Addr, Class: store.ClassSuppressed})
		return event{kind: evSuppressed, rcpt: r.Addr, reply: r.LastReply, attempts: r.Attempts}, true
	})
	return keep, keepIdx
}

// suppressedText is the diagnostic of a recipient not attempted: the
// entry's reason, date and cause, for the bounce log and the sender.
func suppressedText(s *store.Suppression) string {
	t := fmt.Sprintf("not attempted: %s is on the suppression list (%s, since %s)",
		s.Addr, s.Reason, s.Created.UTC().Format(time.RFC3339))
	if s.Reply != "" {
		t += ": " + s.Reply
	}
	return t
}
