package queue

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/outbox-mta/outbox/queue/shaping"
	"github.com/outbox-mta/outbox/store"
)

// Reasons a pending recipient waits (Explanation.Reason).
const (
	WaitHeld            = "held"               // an operator held the message
	WaitScheduled       = "scheduled"          // deliver_after is in the future
	WaitInFlight        = "in-flight"          // a delivery attempt is running
	WaitConnections     = "connection-limited" // every connection of its budget is in use
	WaitSuspended       = "suspended"          // its destination was suspended by a reply
	WaitThrottled       = "throttled"          // its destination was slowed by a reply
	WaitRateLimited     = "rate-limited"       // its destination's configured rate
	WaitDestinationDown = "destination-down"   // no host of the destination answered
	WaitDNS             = "dns-failing"        // the MX lookup failed at the last attempt
	WaitBackoff         = "backoff"            // retry after a temporary failure
	WaitNotYet          = "waiting"            // not attempted yet, due later
	WaitDue             = "due"                // due now, waiting for a worker
	// WaitShapingUnavailable: the shared shaping state could not be read,
	// so the destination is not attempted for a while.
	WaitShapingUnavailable = "shaping-unavailable"
)

// Explanation says why one pending recipient of a message is not
// delivered yet, and until when.
type Explanation struct {
	Rcpt   string
	State  store.State
	Reason string // one of the Wait* constants
	// Until is when it is next considered; zero when it waits for an
	// event (a connection freeing, a release).
	Until time.Time
	// Since is when the cause began (a slow-down or suspension), when
	// known.
	Since time.Time
	// Rule is the shaping budget involved; Reply the remote reply behind
	// the wait (the last one for a back-off).
	Rule, Reply string
	// Attempts made so far; Expires is when the message is given up.
	Attempts int
	Expires  time.Time
	// Sentence says it in words an operator can act on.
	Sentence string
	// Shared: the state behind the wait is every node's (Options.Shaper
	// is a shaping.Shared, or Options.DownList a shared list).
	Shared bool
}

// Explain returns, for every pending (queued, deferred or held) recipient
// of message id, why it waits and until when.
func (op *Ops) Explain(ctx context.Context, id string) ([]Explanation, error) {
	m, err := op.q.store.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("queue: explain %s: %w", id, err)
	}
	q := op.q
	now := q.clock.Now()
	end := deadline(m, q.opts.MaxLifetime)
	var out []Explanation
	for i := range m.Recipients {
		r := &m.Recipients[i]
		if r.State.Final() {
			continue
		}
		e := Explanation{Rcpt: r.Addr, State: r.State, Until: r.NextAttempt, Attempts: r.Attempts, Expires: end, Reply: r.LastReply}
		q.explain(ctx, m, r, now, &e)
		out = append(out, e)
	}
	return out, nil
}

// explain fills e's reason and sentence for recipient r of m at now.
func (q *Queue) explain(ctx context.Context, m *store.Message, r *store.Recipient, now time.Time, e *Explanation) {
	domain := store.Domain(r.Addr)
	due := !r.NextAttempt.After(now)
	if r.State == store.StateHeld {
		e.Reason, e.Until = WaitHeld, time.Time{}
		e.Sentence = fmt.Sprintf("held by an operator: nothing is attempted until `outbox queue release %s`", m.ID)
		return
	}
	if since, ok := q.busy.since(m.ID); ok && due {
		e.Reason, e.Since = WaitInFlight, since
		e.Sentence = fmt.Sprintf("a delivery attempt to %s is in progress since %s", domain, stamp(since))
		return
	}
	if w, ok := q.shapingWait(ctx, m.ID, domain, now); ok {
		e.Reason, e.Rule, e.Since, e.Shared = shapingReason(w.Kind), w.Key, w.Since, w.Shared
		if !w.Until.IsZero() {
			e.Until = w.Until
		}
		if w.Reply != "" {
			e.Reply = w.Reply
		}
		e.Sentence = w.Sentence()
		return
	}
	if dd, down := q.dest.down(ctx, domain, now); down {
		e.Reason, e.Until, e.Reply, e.Shared = WaitDestinationDown, dd.until, dd.reply, q.dest.shared()
		by := ""
		if e.Shared {
			by = " by any node"
		}
		e.Sentence = fmt.Sprintf("no host of %s could be reached (%s); nothing is sent to it%s before %s", domain, dd.reply, by, stamp(dd.until))
		return
	}
	last, hasLast := lastAttempt(r)
	switch {
	case due:
		e.Reason, e.Until = WaitDue, now
		e.Sentence = "due now: it goes as soon as a delivery worker is free"
	case r.Attempts == 0 && m.DeliverAfter.After(now):
		e.Reason = WaitScheduled
		e.Sentence = fmt.Sprintf("scheduled: the sender asked for delivery not before %s (deliver_after)", stamp(m.DeliverAfter))
	case hasLast && last.Code == 0 && (strings.HasPrefix(last.Enhanced, "4.4.3") || strings.Contains(strings.ToLower(last.Reply), "lookup")):
		e.Reason = WaitDNS
		e.Sentence = fmt.Sprintf("the DNS lookup for %s failed at the last attempt (%s); next attempt at %s", domain, last.Reply, stamp(r.NextAttempt))
	case r.Attempts > 0:
		e.Reason = WaitBackoff
		e.Sentence = fmt.Sprintf("retrying after a temporary failure: attempt %d got %q; next attempt at %s, given up at %s",
			r.Attempts, r.LastReply, stamp(r.NextAttempt), stamp(e.Expires))
	default:
		e.Reason = WaitNotYet
		e.Sentence = fmt.Sprintf("not attempted yet; due at %s", stamp(r.NextAttempt))
	}
}

// shapingWait is what the shaper holds message id's mail to domain back
// for, if anything.
func (q *Queue) shapingWait(ctx context.Context, id, domain string, now time.Time) (shaping.Wait, bool) {
	sh := q.opts.Shaper
	if sh == nil {
		return shaping.Wait{}, false
	}
	if w, ok := sh.ParkedWait(id); ok {
		return w, true
	}
	lctx, cancel := context.WithTimeout(ctx, mxLookupTimeout)
	d := sh.Resolve(lctx, domain)
	cancel()
	return sh.Reserved(ctx, id, d.Key, now)
}

func shapingReason(k shaping.WaitKind) string {
	switch k {
	case shaping.WaitSuspended:
		return WaitSuspended
	case shaping.WaitAdaptive:
		return WaitThrottled
	case shaping.WaitConnections:
		return WaitConnections
	case shaping.WaitUnavailable:
		return WaitShapingUnavailable
	}
	return WaitRateLimited
}

// lastAttempt is r's newest history entry.
func lastAttempt(r *store.Recipient) (store.Attempt, bool) {
	if len(r.History) == 0 {
		return store.Attempt{}, false
	}
	return r.History[len(r.History)-1], true
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Throttles lists the destinations the shaper holds back now (suspended,
// slowed, rate-limited, or with messages waiting for a connection); nil
// without a shaper.
func (op *Ops) Throttles() []shaping.Status {
	if op.q.opts.Shaper == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), shapingTimeout)
	defer cancel()
	return op.q.opts.Shaper.Statuses(ctx, op.q.clock.Now())
}
