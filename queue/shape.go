package queue

import (
	"context"
	"sync"
	"time"

	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/queue/shaping"
	"github.com/outbox-mta/outbox/store"
)

// Shaper is the per-destination traffic shaper the queue consults before
// each delivery (Options.Shaper). *shaping.Shaper (one process: its
// budgets in memory) and *shaping.Shared (several nodes: the budgets in a
// shaping.Ledger, such as PostgreSQL's) satisfy it.
type Shaper interface {
	Resolve(ctx context.Context, domain string) shaping.Dest
	Admit(ctx context.Context, d shaping.Dest, id string, cost int, now time.Time) shaping.Decision
	Finish(ctx context.Context, d shaping.Dest, replies []shaping.Reply, now time.Time) (wake []string)
	Parked(id string) bool
	Unpark(id string)
	// Recheck unparks the messages parked for connections that only other
	// nodes hold, when due, and returns the wait until the next such
	// recheck (negative: none). The dispatcher calls it at each look.
	Recheck(now time.Time) time.Duration
	Reserved(ctx context.Context, id, key string, now time.Time) (shaping.Wait, bool)
	ParkedWait(id string) (shaping.Wait, bool)
	Statuses(ctx context.Context, now time.Time) []shaping.Status
	Reactions() map[string]uint64
}

var (
	_ Shaper = (*shaping.Shaper)(nil)
	_ Shaper = (*shaping.Shared)(nil)
)

// shapingTimeout bounds the shaper's calls made without a caller's
// deadline (stats, a slot given back after a shutdown began).
const shapingTimeout = 5 * time.Second

// mxLookupTimeout bounds the MX lookup that finds a domain's budget.
const mxLookupTimeout = 30 * time.Second

// admitGroup asks the shaper whether g may be delivered now. It returns
// the budget to pass to deliverGroup (nil without a shaper) and true to
// deliver; false when the group waits: parked for a connection (it stays
// due, the dispatcher skips the message until a delivery to that budget
// ends) or deferred to a rate slot or the end of a suspension, without an
// attempt (throttleGroup).
func (q *Queue) admitGroup(ctx context.Context, m *store.Message, g group) (*shaping.Dest, bool) {
	sh := q.opts.Shaper
	if sh == nil {
		return nil, true
	}
	lctx, cancel := context.WithTimeout(ctx, mxLookupTimeout)
	d := sh.Resolve(lctx, g.Domain)
	cancel()
	dec := sh.Admit(ctx, d, m.ID, transactions(len(g.Rcpts), d.Limits.RecipientsPerTransaction), q.clock.Now())
	switch {
	case dec.Go:
		return &d, true
	case dec.Park:
		q.st.parks.Add(1)
		return nil, false
	case ctx.Err() != nil:
		return nil, false // abandoned (a shared shaper's query was cut): it stays due
	}
	q.throttleGroup(ctx, m, g, dec.Until, dec.Wait)
	return nil, false
}

// transactions is the number of SMTP transactions n recipients take at
// per recipients each (delivery.DefaultMaxRcptsPerTx when per is 0): the
// messages they cost a budget's rate. A bounce notice or delay warning
// costs what any message does.
func transactions(n, per int) int {
	if per <= 0 {
		per = delivery.DefaultMaxRcptsPerTx
	}
	return max(1, (n+per-1)/per)
}

// shapeEnvelope applies the budget's per-session limits to env.
func shapeEnvelope(env *delivery.Envelope, d *shaping.Dest) {
	if d == nil {
		return
	}
	env.MaxRcptsPerTx = d.Limits.RecipientsPerTransaction
	env.MaxMsgsPerConn = d.Limits.MessagesPerConnection
}

// finishShaped tells the shaper a delivery to d ended with outs (its
// temporary replies drive the adaptive reaction) and wakes the dispatcher
// for the messages it unparks.
func (q *Queue) finishShaped(ctx context.Context, d *shaping.Dest, outs []delivery.RcptResult) {
	if d == nil {
		return
	}
	var replies []shaping.Reply
	seen := map[delivery.Reply]bool{}
	for _, o := range outs {
		if o.Status == delivery.Deferred && o.Reply.Code/100 == 4 && !seen[o.Reply] {
			seen[o.Reply] = true
			replies = append(replies, shaping.Reply{Code: o.Reply.Code, Enhanced: o.Reply.Enhanced, Text: o.Reply.Text})
		}
	}
	// Detached: a connection slot must be given back even when a shutdown
	// cancelled the attempt.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shapingTimeout)
	defer cancel()
	if wake := q.opts.Shaper.Finish(ctx, *d, replies, q.clock.Now()); len(wake) > 0 {
		q.Wake()
	}
}

// recheckShaping unparks the messages whose wait for another node's
// connection is due, and returns the wait until the next (negative:
// none).
func (q *Queue) recheckShaping(now time.Time) time.Duration {
	if q.opts.Shaper == nil {
		return -1
	}
	return q.opts.Shaper.Recheck(now)
}

// parked reports whether id waits for a connection of its budget.
func (q *Queue) parked(id string) bool {
	return q.opts.Shaper != nil && q.opts.Shaper.Parked(id)
}

// throttleGroup defers g's recipients to until without an attempt
// (Attempts and LastReply unchanged), never past the message's deadline:
// a throttle may make a message wait up to its lifetime, never expire it
// sooner. One that reaches its deadline while still held back bounces as
// expired, as any message then does.
func (q *Queue) throttleGroup(ctx context.Context, m *store.Message, g group, until time.Time, w shaping.Wait) {
	now := q.clock.Now()
	why := w.Sentence()
	q.record(ctx, m, g, func(_ int, r *store.Recipient, sm *store.Message) (event, bool) {
		if r.State != store.StateQueued && r.State != store.StateDeferred {
			return event{}, false
		}
		end := deadline(sm, q.opts.MaxLifetime)
		if expired(end, now) {
			last := r.LastReply
			if last == "" {
				last = "not attempted: " + why
			}
			a := expiryAttempt(now, "", last)
			r.State, r.LastReply = store.StateBounced, expiredEnhanced+" "+a.Reply
			appendHistory(r, a)
			return event{kind: evExpired, rcpt: r.Addr, reply: r.LastReply, attempts: r.Attempts}, true
		}
		next := until
		if !end.IsZero() && next.After(end) {
			next = end
		}
		r.NextAttempt = next
		return event{kind: evThrottled, rcpt: r.Addr, reply: why, next: next, attempts: r.Attempts}, true
	})
}

// busySet is the messages a worker holds now, for explanations.
type busySet struct {
	mu  sync.Mutex
	ids map[string]time.Time
}

// enter marks id busy since now and returns the func that ends it.
func (b *busySet) enter(id string, now time.Time) func() {
	b.mu.Lock()
	if b.ids == nil {
		b.ids = map[string]time.Time{}
	}
	b.ids[id] = now
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		delete(b.ids, id)
		b.mu.Unlock()
	}
}

func (b *busySet) since(id string) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.ids[id]
	return t, ok
}

// ShapingStats is traffic shaping's part of Stats.
type ShapingStats struct {
	// Throttled counts recipients deferred without an attempt by their
	// destination's budget (a rate slot or a suspension); Parks counts
	// groups that waited for a connection of their budget.
	Throttled, Parks uint64
	// Destinations counts the destinations held back now, by state
	// (shaping.Status.State); Reactions the slow-down replies acted on, by
	// reaction. Nil without a shaper.
	Destinations map[string]int
	Reactions    map[string]uint64
}

func (q *Queue) shapingStats(now time.Time) ShapingStats {
	s := ShapingStats{Throttled: q.st.throttled.Load(), Parks: q.st.parks.Load()}
	if q.opts.Shaper == nil {
		return s
	}
	s.Destinations = map[string]int{}
	ctx, cancel := context.WithTimeout(context.Background(), shapingTimeout)
	defer cancel()
	for _, st := range q.opts.Shaper.Statuses(ctx, now) {
		s.Destinations[st.State]++
	}
	s.Reactions = q.opts.Shaper.Reactions()
	return s
}
