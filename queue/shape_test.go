package queue

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/queue/shaping"
	"github.com/outbox-mta/outbox/store"
)

func newShaper(rules ...shaping.Rule) *shaping.Shaper {
	return shaping.New(shaping.Options{Rules: rules, Logger: slog.New(slog.DiscardHandler)})
}

func (h *harness) rcpt(id, addr string) store.Recipient {
	h.t.Helper()
	m, err := h.fs.Get(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, r := range m.Recipients {
		if r.Addr == addr {
			return r
		}
	}
	h.t.Fatalf("%s has no recipient %s", id, addr)
	return store.Recipient{}
}

func (h *harness) explain(id string) Explanation {
	h.t.Helper()
	es, err := h.q.Ops().Explain(context.Background(), id)
	if err != nil || len(es) != 1 {
		h.t.Fatalf("Explain(%s) = %+v, %v", id, es, err)
	}
	return es[0]
}

// A message held back by its destination's rate is deferred to its slot
// without an attempt, and one whose slot lies past its lifetime waits to
// its deadline, not less, and only then expires.
func TestThrottleChargesNoAttemptAndNeverExpiresEarly(t *testing.T) {
	opts := testOptions()
	opts.MaxLifetime = 150 * time.Second
	opts.Shaper = newShaper(shaping.Rule{Name: "slow", Domains: []string{"x.test"}, Limits: shaping.Limits{PerMinute: 1}})
	h := newHarness(t, opts)
	var ids []string
	for range 4 {
		ids = append(ids, h.add("app@here.test", "a@x.test"))
	}
	h.start()
	// Dispatched together, one goes now and the others hold the next slots
	// in some order; the last slot (t0+3m) lies past the lifetime
	// (t0+150s).
	bySlot := map[time.Duration]string{}
	waitFor(t, "one delivered, three deferred to their slots", func() bool {
		clear(bySlot)
		for _, id := range ids {
			if r := h.rcpt(id, "a@x.test"); r.State == store.StateDelivered {
				bySlot[0] = id
			} else {
				bySlot[r.NextAttempt.Sub(t0)] = id
			}
		}
		return bySlot[0] != "" && bySlot[time.Minute] != "" && bySlot[2*time.Minute] != "" && bySlot[150*time.Second] != ""
	})
	ids = []string{bySlot[0], bySlot[time.Minute], bySlot[2*time.Minute], bySlot[150*time.Second]}
	for _, id := range ids[1:] {
		r := h.rcpt(id, "a@x.test")
		if r.Attempts != 0 || r.State != store.StateQueued || len(r.History) != 0 {
			t.Errorf("%s after the throttle: attempts %d, state %v, history %v; want no attempt", id, r.Attempts, r.State, r.History)
		}
	}
	if e := h.explain(ids[1]); e.Reason != WaitRateLimited || e.Rule != "slow" || !e.Until.Equal(t0.Add(time.Minute)) {
		t.Errorf("explain of a rate-limited message: %+v", e)
	}
	if n := h.del.count(); n != 1 {
		t.Fatalf("%d deliveries in the first minute, want 1", n)
	}
	h.clock.Set(t0.Add(time.Minute))
	h.waitState(ids[1], "a@x.test", store.StateDelivered)
	h.clock.Set(t0.Add(2 * time.Minute))
	h.waitState(ids[2], "a@x.test", store.StateDelivered)
	// The fourth's slot (t0+3m) is past its lifetime (t0+150s): it waited
	// to the deadline and expires there, never attempted.
	h.clock.Set(t0.Add(150 * time.Second))
	h.waitState(ids[3], "a@x.test", store.StateBounced)
	r := h.rcpt(ids[3], "a@x.test")
	if r.Attempts != 0 || !strings.HasPrefix(r.LastReply, "4.4.7") || !r.History[0].Time.Equal(t0.Add(150*time.Second)) {
		t.Errorf("expired recipient: attempts %d, reply %q, history %+v", r.Attempts, r.LastReply, r.History)
	}
	toX := 0
	for _, e := range h.del.envelopes() {
		if e.Domain == "x.test" {
			toX++
		}
	}
	if s := h.q.Stats(); s.Shaping.Throttled != 3 || toX != 3 {
		t.Errorf("throttled %d, attempts to x.test %d, want 3 and 3", s.Shaping.Throttled, toX)
	}
}

// A slow-down reply slows its destination only, and explain names the
// reply; another destination keeps full speed.
func TestSlowDownReplySlowsOnlyItsDestination(t *testing.T) {
	opts := testOptions()
	opts.Shaper = newShaper()
	h := newHarness(t, opts)
	h.del.set(func(_ context.Context, env *delivery.Envelope) *delivery.Result {
		if env.Domain == "slow.test" {
			return result(env, delivery.Deferred, delivery.Reply{Code: 421, Enhanced: "4.7.28", Text: "unusual rate of unsolicited mail"})
		}
		return result(env, delivery.Delivered, ok250)
	})
	first := h.add("app@here.test", "a@slow.test")
	h.start()
	waitFor(t, "the 421", func() bool { return h.rcpt(first, "a@slow.test").Attempts == 1 })
	// The shaper hears of the reply after its commit.
	waitFor(t, "slow.test throttled", func() bool { return len(h.q.Ops().Throttles()) == 1 })
	next := h.add("app@here.test", "b@slow.test")
	var fast []string
	for range 20 {
		fast = append(fast, h.add("app@here.test", "c@fast.test"))
	}
	h.q.Wake()
	for _, id := range fast { // the clock stands still: no rate holds them
		h.waitState(id, "c@fast.test", store.StateDelivered)
	}
	waitFor(t, "the slowed message deferred", func() bool { return h.rcpt(next, "b@slow.test").NextAttempt.After(t0) })
	e := h.explain(next)
	if e.Reason != WaitThrottled || e.Rule != "slow.test" || !strings.Contains(e.Reply, "4.7.28") || !e.Since.Equal(t0) {
		t.Errorf("explain of the slowed message: %+v", e)
	}
	if r := h.rcpt(next, "b@slow.test"); r.Attempts != 0 {
		t.Errorf("slowed message charged %d attempts", r.Attempts)
	}
	st := h.q.Ops().Throttles()
	if len(st) != 1 || st[0].Key != "slow.test" || st[0].State != "throttled" {
		t.Errorf("throttles = %+v", st)
	}
}

// A budget's connection limit holds: the other messages wait, parked
// without a timer, and go as connections free.
func TestConnectionLimitParksAndWakes(t *testing.T) {
	opts := testOptions()
	opts.Shaper = newShaper(shaping.Rule{Name: "one", Domains: []string{"x.test"}, Limits: shaping.Limits{Connections: 1}})
	h := newHarness(t, opts)
	release := make(chan struct{})
	h.del.set(func(_ context.Context, env *delivery.Envelope) *delivery.Result {
		<-release
		return result(env, delivery.Delivered, ok250)
	})
	var ids []string
	for range 3 {
		ids = append(ids, h.add("app@here.test", "a@x.test"))
	}
	h.start()
	waitFor(t, "one delivery started and two parked", func() bool {
		return h.del.count() == 1 && h.q.Stats().Shaping.Parks >= 2
	})
	parked := ""
	for _, id := range ids {
		if h.q.parked(id) {
			parked = id
		}
	}
	if e := h.explain(parked); e.Reason != WaitConnections || e.Rule != "one" {
		t.Errorf("explain of a parked message: %+v", e)
	}
	close(release)
	for _, id := range ids {
		h.waitState(id, "a@x.test", store.StateDelivered)
	}
	if h.del.maxInUse != 1 {
		t.Errorf("%d deliveries at once, want 1", h.del.maxInUse)
	}
}

func TestExplainStates(t *testing.T) {
	opts := testOptions()
	h := newHarness(t, opts)
	held := h.add("app@here.test", "a@x.test")
	_ = h.q.Ops().Hold(context.Background(), held)
	sched := h.fs.add(&store.Message{From: "app@here.test", Received: t0, DeliverAfter: t0.Add(time.Hour),
		Recipients: []store.Recipient{{Addr: "a@x.test", State: store.StateQueued, NextAttempt: t0.Add(time.Hour)}}}, "x")
	backoff := h.fs.add(&store.Message{From: "app@here.test", Received: t0,
		Recipients: []store.Recipient{{Addr: "a@x.test", State: store.StateDeferred, Attempts: 2, NextAttempt: t0.Add(time.Minute),
			LastReply: "451 4.3.0 try later", History: []store.Attempt{{Code: 451, Enhanced: "4.3.0", Reply: "try later"}}}}}, "x")
	dns := h.fs.add(&store.Message{From: "app@here.test", Received: t0,
		Recipients: []store.Recipient{{Addr: "a@nx.test", State: store.StateDeferred, Attempts: 1, NextAttempt: t0.Add(time.Minute),
			LastReply: "4.4.3 MX lookup failed: SERVFAIL", History: []store.Attempt{{Enhanced: "4.4.3", Reply: "MX lookup failed: SERVFAIL"}}}}}, "x")
	h.q.dest.set(t.Context(), "down.test", t0.Add(time.Minute), "connection refused", t0)
	down := h.add("app@here.test", "a@down.test")
	for id, want := range map[string]string{held: WaitHeld, sched: WaitScheduled, backoff: WaitBackoff, dns: WaitDNS, down: WaitDestinationDown} {
		if e := h.explain(id); e.Reason != want || e.Sentence == "" {
			t.Errorf("explain: %+v, want reason %s", e, want)
		}
	}
	done := h.q.busy.enter(backoff, t0)
	h.clock.Set(t0.Add(time.Minute))
	if e := h.explain(backoff); e.Reason != WaitInFlight {
		t.Errorf("explain of a message being delivered: %+v", e)
	}
	done()
	if e := h.explain(backoff); e.Reason != WaitDue {
		t.Errorf("explain of a due message: %+v", e)
	}
}

// A suspending reply stops the destination until the time it names; the
// waiting message is explained as suspended, with the reply and its end.
func TestSuspendingReplyExplained(t *testing.T) {
	opts := testOptions()
	opts.Shaper = newShaper()
	h := newHarness(t, opts)
	h.del.set(func(_ context.Context, env *delivery.Envelope) *delivery.Result {
		return result(env, delivery.Deferred, delivery.Reply{Code: 451, Enhanced: "4.7.500", Text: "Server busy. Please try again later"})
	})
	first := h.add("app@here.test", "a@busy.test")
	h.start()
	waitFor(t, "the 451", func() bool { return h.rcpt(first, "a@busy.test").Attempts == 1 })
	waitFor(t, "busy.test suspended", func() bool { return len(h.q.Ops().Throttles()) == 1 })
	next := h.add("app@here.test", "b@busy.test")
	h.q.Wake()
	waitFor(t, "the second deferred", func() bool { return h.rcpt(next, "b@busy.test").NextAttempt.After(t0) })
	e := h.explain(next)
	if e.Reason != WaitSuspended || !e.Until.Equal(t0.Add(5*time.Minute)) || !strings.Contains(e.Reply, "4.7.500") ||
		!strings.Contains(e.Sentence, "suspended until") {
		t.Errorf("explain of a message to a suspended destination: %+v", e)
	}
	if r := h.rcpt(next, "b@busy.test"); r.Attempts != 0 || !r.NextAttempt.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("second message: attempts %d, next %v; want 0 and the end of the suspension", r.Attempts, r.NextAttempt)
	}
}

// A bounce notice costs its destination's budget one message, as any
// message does, never more; a group costs one per transaction.
func TestTransactionsCost(t *testing.T) {
	for _, c := range []struct{ n, per, want int }{
		{1, 0, 1}, {50, 0, 1}, {51, 0, 2}, {10, 3, 4}, {0, 0, 1},
	} {
		if got := transactions(c.n, c.per); got != c.want {
			t.Errorf("transactions(%d, %d) = %d, want %d", c.n, c.per, got, c.want)
		}
	}
}

// A bounce notice goes through its destination's budget like any mail,
// costing one message: the next message to that destination has the next
// slot, not a later one.
func TestNoticeCountsOnceAgainstItsDestination(t *testing.T) {
	opts := testOptions()
	opts.Shaper = newShaper(shaping.Rule{Name: "sender", Domains: []string{"here.test"}, Limits: shaping.Limits{PerMinute: 1}})
	h := newHarness(t, opts)
	h.del.set(func(_ context.Context, env *delivery.Envelope) *delivery.Result {
		if env.Domain == "x.test" {
			return result(env, delivery.Bounced, perm550)
		}
		return result(env, delivery.Delivered, ok250)
	})
	h.add("app@here.test", "gone@x.test")
	h.start()
	waitFor(t, "the bounce notice delivered", func() bool {
		for _, e := range h.del.envelopes() {
			if e.From == "" && e.Domain == "here.test" {
				return true
			}
		}
		return false
	})
	next := h.add("other@x.test", "b@here.test")
	h.q.Wake()
	waitFor(t, "the next message deferred", func() bool { return h.rcpt(next, "b@here.test").NextAttempt.After(t0) })
	if got := h.rcpt(next, "b@here.test").NextAttempt; !got.Equal(t0.Add(time.Minute)) {
		t.Errorf("next message to the notice's destination due at %v, want one slot later (%v)", got, t0.Add(time.Minute))
	}
}
