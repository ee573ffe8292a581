package queue

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/store"
)

func TestFreshEnqueueDeliveredPromptly(t *testing.T) {
	h := newHarness(t, testOptions())
	h.start()
	m := &store.Message{From: "app@here.test", Recipients: []store.Recipient{
		{Addr: "a@one.test"}, {Addr: "b@Two.test"}, {Addr: "c@ONE.test"},
	}}
	if err := submit(h.fs, h.q, m, "Subject: hi\r\n\r\nbody\r\n"); err != nil {
		t.Fatal(err)
	}
	// The clock never moves: only the wake-up can have started delivery.
	for _, r := range []string{"a@one.test", "b@Two.test", "c@ONE.test"} {
		h.waitState(m.ID, r, store.StateDelivered)
	}
	envs := h.del.envelopes()
	if len(envs) != 2 {
		t.Fatalf("%d Deliver calls, want 2 (one per domain)", len(envs))
	}
	byDomain := map[string][]string{}
	for _, e := range envs {
		byDomain[e.Domain] = e.Rcpts
		if e.From != "app@here.test" || e.MsgID != m.ID || !e.AtLeastOne || e.Size != m.Size {
			t.Errorf("envelope %+v", e)
		}
	}
	if !slices.Equal(byDomain["one.test"], []string{"a@one.test", "c@ONE.test"}) || !slices.Equal(byDomain["two.test"], []string{"b@Two.test"}) {
		t.Errorf("groups %v", byDomain)
	}
	if got := h.del.bodies[0]; got != "Subject: hi\r\n\r\nbody\r\n" {
		t.Errorf("body %q", got)
	}
	r := h.fs.rcpt(t, m.ID, "a@one.test")
	if r.Attempts != 1 || r.LastReply != "250 2.0.0 ok" || len(r.History) != 1 {
		t.Fatalf("recipient %+v", r)
	}
	a := r.History[0]
	want := store.Attempt{Time: t0, Host: "mx.one.test[127.0.0.2]:25", TLS: "none", Code: 250, Enhanced: "2.0.0", Reply: "ok", Result: store.StateDelivered}
	if a != want {
		t.Errorf("history %+v, want %+v", a, want)
	}
	if s := h.q.Stats(); s.Delivered != 3 || s.Attempts != 2 {
		t.Errorf("stats %+v", s)
	}
}

func TestPartialResult(t *testing.T) {
	h := newHarness(t, testOptions())
	h.del.set(func(_ context.Context, env *delivery.Envelope) *delivery.Result {
		res := result(env, delivery.Delivered, ok250)
		for i, r := range env.Rcpts {
			switch r {
			case "later@x.test":
				res.Rcpts[i].Status, res.Rcpts[i].Reply = delivery.Deferred, temp451
			case "gone@x.test":
				res.Rcpts[i].Status, res.Rcpts[i].Reply = delivery.Bounced, perm550
			}
		}
		return res
	})
	id := h.add("app@here.test", "ok@x.test", "later@x.test", "gone@x.test")
	h.start()
	h.waitState(id, "gone@x.test", store.StateBounced)
	waitFor(t, "notice queued", func() bool { return h.fs.msg(t, id).DSNID != "" })

	tests := []struct {
		rcpt     string
		state    store.State
		reply    string
		next     time.Time
		enhanced string
	}{
		{"ok@x.test", store.StateDelivered, "250 2.0.0 ok", t0, "2.0.0"},
		{"later@x.test", store.StateDeferred, "451 4.3.0 try later", t0.Add(5 * time.Minute), "4.3.0"},
		{"gone@x.test", store.StateBounced, "550 5.1.1 no such user", t0, "5.1.1"},
	}
	for _, tt := range tests {
		r := h.fs.rcpt(t, id, tt.rcpt)
		if r.State != tt.state || r.Attempts != 1 || r.LastReply != tt.reply || !r.NextAttempt.Equal(tt.next) {
			t.Errorf("%s: %+v, want state %v reply %q next %v", tt.rcpt, r, tt.state, tt.reply, tt.next)
		}
		if len(r.History) != 1 || r.History[0].Enhanced != tt.enhanced || r.History[0].Result != tt.state {
			t.Errorf("%s: history %+v", tt.rcpt, r.History)
		}
	}
	bs, _ := h.q.Ops().Bounces(context.Background(), time.Time{})
	if len(bs) != 1 || bs[0].Rcpt != "gone@x.test" || bs[0].Code != 550 || bs[0].Enhanced != "5.1.1" || bs[0].MsgID != id {
		t.Errorf("bounce log %+v", bs)
	}
	ns := h.dsn.list()
	if len(ns) != 1 || ns[0].msgID != id || !slices.Equal(ns[0].bounced, []string{"gone@x.test"}) {
		t.Fatalf("notices %+v", ns)
	}
	m := h.fs.msg(t, id)
	if m.DSNPending {
		t.Error("DSNPending still set after the notice was queued")
	}
	n := h.fs.msg(t, m.DSNID)
	if n.From != "" || len(n.Recipients) != 1 || n.Recipients[0].Addr != "app@here.test" {
		t.Errorf("notice envelope %+v", n)
	}
	// The notice itself is delivered (null sender) by the same queue.
	h.waitState(m.DSNID, "app@here.test", store.StateDelivered)
}

func TestDeferredThenDeliveredOnRetry(t *testing.T) {
	h := newHarness(t, testOptions())
	var mu sync.Mutex
	calls := 0
	h.del.set(func(_ context.Context, env *delivery.Envelope) *delivery.Result {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			return result(env, delivery.Deferred, temp451)
		}
		return result(env, delivery.Delivered, ok250)
	})
	id := h.add("app@here.test", "a@x.test")
	h.start()
	h.waitState(id, "a@x.test", store.StateDeferred)
	retry := t0.Add(5 * time.Minute)
	h.waitArmed(retry) // the dispatcher sleeps until the retry, not polling
	if h.del.count() != 1 {
		t.Fatalf("%d attempts before the retry time", h.del.count())
	}
	h.clock.Set(retry)
	h.waitState(id, "a@x.test", store.StateDelivered)
	r := h.fs.rcpt(t, id, "a@x.test")
	if r.Attempts != 2 || len(r.History) != 2 || r.History[0].Result != store.StateDeferred || !r.History[1].Time.Equal(retry) {
		t.Errorf("recipient %+v", r)
	}
}

// A destination down for the whole lifetime: retried on the back-off
// schedule with a fake clock, then bounced as expired with a notice.
func TestDestinationDownPastLifetimeExpires(t *testing.T) {
	opts := testOptions()
	h := newHarness(t, opts)
	h.del.set(func(_ context.Context, env *delivery.Envelope) *delivery.Result {
		res := result(env, delivery.Deferred, refused)
		res.Host, res.TLS, res.DestinationDown = "", "", true
		return res
	})
	id := h.add("app@here.test", "a@down.test", "b@down.test")
	h.start()
	deadline := t0.Add(DefaultMaxLifetime)
	for i := 0; ; i++ {
		if i > 200 {
			t.Fatal("no give-up after 200 attempts")
		}
		waitFor(t, "attempt recorded", func() bool {
			m := h.fs.msg(t, id)
			return m.Recipients[0].State == store.StateBounced || m.Recipients[0].NextAttempt.After(h.clock.Now())
		})
		r := h.fs.rcpt(t, id, "a@down.test")
		if r.State == store.StateBounced {
			break
		}
		if r.NextAttempt.After(deadline) {
			t.Fatalf("next attempt %v after the deadline %v", r.NextAttempt, deadline)
		}
		// The dispatcher computes its wait from the clock it read; jumping
		// the fake clock before it arms its timer would leave the timer
		// armed past the new time, forever.
		h.waitArmed(r.NextAttempt)
		h.clock.Set(r.NextAttempt)
	}
	h.waitState(id, "b@down.test", store.StateBounced)
	r := h.fs.rcpt(t, id, "a@down.test")
	wantReply := "4.4.7 delivery time expired; last error: dial tcp 127.0.0.2:25: connection refused"
	if r.LastReply != wantReply {
		t.Errorf("LastReply %q, want %q", r.LastReply, wantReply)
	}
	last := r.History[len(r.History)-1]
	if last.Enhanced != "4.4.7" || last.Result != store.StateBounced || !last.Time.Equal(deadline) {
		t.Errorf("last history %+v", last)
	}
	if len(r.History) != store.MaxHistory {
		t.Errorf("history has %d entries, want capped at %d", len(r.History), store.MaxHistory)
	}
	// 5m, 10m, 20m, 40m, then every 4000s until 5 days: 4 + ceil((5d-75m)/4000s) attempts.
	wantAttempts := 4 + int((DefaultMaxLifetime-75*time.Minute+DefaultMaxRetryInterval-1)/DefaultMaxRetryInterval) + 1
	if r.Attempts != wantAttempts {
		t.Errorf("attempts %d, want %d", r.Attempts, wantAttempts)
	}
	waitFor(t, "notice", func() bool { return len(h.dsn.list()) == 1 && h.fs.msg(t, id).DSNID != "" })
	if ns := h.dsn.list(); !slices.Equal(ns[0].bounced, []string{"a@down.test", "b@down.test"}) {
		t.Errorf("one notice for both, got %+v", ns)
	}
	bs, _ := h.q.Ops().Bounces(context.Background(), time.Time{})
	if len(bs) != 2 || bs[0].Enhanced != "4.4.7" || !strings.Contains(bs[0].Diag, "expired") {
		t.Errorf("bounce log %+v", bs)
	}
	if s := h.q.Stats(); s.Expired != 2 || s.DestinationDown == 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestDestinationBackoff(t *testing.T) {
	opts := testOptions()
	opts.Workers = 1 // one message after the other, earliest first
	h := newHarness(t, opts)
	var mu sync.Mutex
	down := true
	h.del.set(func(_ context.Context, env *delivery.Envelope) *delivery.Result {
		mu.Lock()
		defer mu.Unlock()
		if env.Domain == "down.test" && down {
			res := result(env, delivery.Deferred, refused)
			res.DestinationDown = true
			return res
		}
		return result(env, delivery.Delivered, ok250)
	})
	first := h.add("app@here.test", "a@down.test")
	h.clock.Advance(time.Second)
	second := h.add("app@here.test", "b@DOWN.test", "c@up.test")
	h.start()
	h.waitState(second, "c@up.test", store.StateDelivered)
	h.waitState(second, "b@DOWN.test", store.StateDeferred)

	until := h.fs.rcpt(t, first, "a@down.test").NextAttempt
	if want := t0.Add(time.Second + 5*time.Minute); !until.Equal(want) {
		t.Fatalf("first's retry at %v, want %v", until, want)
	}
	b := h.fs.rcpt(t, second, "b@DOWN.test")
	if b.Attempts != 0 || !b.NextAttempt.Equal(until) || len(b.History) != 0 || !strings.Contains(b.LastReply, "connection refused") {
		t.Errorf("skipped recipient %+v, want deferred to %v without attempt", b, until)
	}
	for _, e := range h.del.envelopes() {
		if e.MsgID == second && e.Domain == "down.test" {
			t.Error("a backed-off destination was attempted")
		}
	}
	if s := h.q.Stats(); s.DestinationSkips != 1 || s.DownDomains != 1 || s.DestinationDown != 1 {
		t.Errorf("stats %+v", s)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	h.waitArmed(until) // else a wait computed before the jump overshoots it
	h.clock.Set(until)
	h.waitState(first, "a@down.test", store.StateDelivered)
	h.waitState(second, "b@DOWN.test", store.StateDelivered)
	if r := h.fs.rcpt(t, second, "b@DOWN.test"); r.Attempts != 1 {
		t.Errorf("attempts %d, want 1", r.Attempts)
	}
}

func TestAmbiguousCounted(t *testing.T) {
	h := newHarness(t, testOptions())
	h.del.set(func(_ context.Context, env *delivery.Envelope) *delivery.Result {
		res := result(env, delivery.Deferred, delivery.Reply{Text: "connection lost after the final dot"})
		res.Ambiguous = true
		return res
	})
	id := h.add("app@here.test", "a@x.test")
	h.start()
	h.waitState(id, "a@x.test", store.StateDeferred)
	if s := h.q.Stats(); s.Ambiguous != 1 {
		t.Errorf("Ambiguous = %d, want 1", s.Ambiguous)
	}
}

func TestAtLeastOnePolicy(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name     string
		def      *bool
		override *bool
		want     bool
	}{
		{"default is true", nil, nil, true},
		{"configured false", &no, nil, false},
		{"message override true", &no, &yes, true},
		{"message override false", nil, &no, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions()
			opts.AtLeastOne = tt.def
			h := newHarness(t, opts)
			m := &store.Message{From: "a@b.test", Received: t0, AtLeastOne: tt.override,
				Recipients: []store.Recipient{{Addr: "x@y.test", State: store.StateQueued, NextAttempt: t0}}}
			id := h.fs.add(m, "x")
			h.start()
			h.waitState(id, "x@y.test", store.StateDelivered)
			if got := h.del.envelopes()[0].AtLeastOne; got != tt.want {
				t.Errorf("AtLeastOne = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNoNoticeForNullSender(t *testing.T) {
	h := newHarness(t, testOptions())
	h.del.set(func(_ context.Context, env *delivery.Envelope) *delivery.Result {
		return result(env, delivery.Bounced, perm550)
	})
	id := h.add("", "a@x.test")
	other := h.add("app@here.test", "b@x.test")
	h.start()
	h.waitState(id, "a@x.test", store.StateBounced)
	waitFor(t, "notice for the other", func() bool { return h.fs.msg(t, other).DSNID != "" })
	if m := h.fs.msg(t, id); m.DSNPending || m.DSNID != "" {
		t.Errorf("null-sender message %+v got a notice", m)
	}
	if ns := h.dsn.list(); len(ns) != 1 || ns[0].msgID != other {
		t.Errorf("notices %+v", ns)
	}
}

func TestNoticesOff(t *testing.T) {
	opts := testOptions()
	opts.DSN = false
	h := newHarness(t, opts)
	h.del.set(func(_ context.Context, env *delivery.Envelope) *delivery.Result {
		return result(env, delivery.Bounced, perm550)
	})
	id := h.add("app@here.test", "a@x.test")
	h.start()
	h.waitState(id, "a@x.test", store.StateBounced)
	if m := h.fs.msg(t, id); m.DSNPending || m.DSNID != "" {
		t.Errorf("notice with DSN off: %+v", m)
	}
}

// A crash between the bounce and the notice leaves DSNPending: Run sends
// the notice about the latest bounce batch only.
func TestPendingNoticeRecoveredAtStart(t *testing.T) {
	h := newHarness(t, testOptions())
	hist := func(at time.Time) []store.Attempt {
		return []store.Attempt{{Time: at, Code: 550, Enhanced: "5.1.1", Reply: "no", Result: store.StateBounced}}
	}
	m := &store.Message{From: "app@here.test", Received: t0, DSNPending: true, DSNID: "earlier-notice",
		Recipients: []store.Recipient{
			{Addr: "old@x.test", State: store.StateBounced, Attempts: 1, History: hist(t0)},
			{Addr: "new1@x.test", State: store.StateBounced, Attempts: 2, History: hist(t0.Add(time.Hour))},
			{Addr: "ok@x.test", State: store.StateDelivered, Attempts: 1},
			{Addr: "new2@y.test", State: store.StateBounced, Attempts: 2, History: hist(t0.Add(time.Hour))},
		}}
	id := h.fs.add(m, "x")
	h.start()
	waitFor(t, "notice recovered", func() bool { return !h.fs.msg(t, id).DSNPending })
	ns := h.dsn.list()
	if len(ns) != 1 || !slices.Equal(ns[0].bounced, []string{"new1@x.test", "new2@y.test"}) {
		t.Errorf("notices %+v", ns)
	}
	if got := h.fs.msg(t, id).DSNID; got == "earlier-notice" || got == "" {
		t.Errorf("DSNID %q not updated", got)
	}
}

func TestWorkersBoundAndAllDelivered(t *testing.T) {
	opts := testOptions()
	opts.Workers = 3
	h := newHarness(t, opts)
	release := make(chan struct{})
	h.del.set(func(_ context.Context, env *delivery.Envelope) *delivery.Result {
		<-release
		return result(env, delivery.Delivered, ok250)
	})
	var ids []string
	for range 20 {
		ids = append(ids, h.add("app@here.test", "a@x.test"))
	}
	h.start()
	waitFor(t, "3 in flight", func() bool { return h.q.Stats().InFlight == 3 })
	close(release)
	for _, id := range ids {
		h.waitState(id, "a@x.test", store.StateDelivered)
	}
	if h.del.maxInUse > 3 {
		t.Errorf("%d concurrent deliveries, want at most Workers=3", h.del.maxInUse)
	}
	if n := h.del.count(); n != 20 {
		t.Errorf("%d attempts for 20 messages", n)
	}
}

// After a restart, overdue work ramps up: one at once, then WarmupRate per
// second.
func TestStartupSpread(t *testing.T) {
	opts := testOptions()
	opts.Workers = 10
	opts.Warmup = time.Minute
	opts.WarmupRate = 2
	h := newHarness(t, opts)
	var ids []string
	for range 6 {
		ids = append(ids, h.add("app@here.test", "a@x.test"))
	}
	h.clock.Advance(time.Hour) // all overdue
	h.start()
	delivered := func() int {
		n := 0
		for _, id := range ids {
			if h.fs.state(id, "a@x.test") == store.StateDelivered {
				n++
			}
		}
		return n
	}
	start := h.clock.Now()
	for step, want := range []int{1, 2, 3, 4, 5, 6} {
		waitFor(t, "deliveries", func() bool { return delivered() == want })
		if want < 6 {
			next := start.Add(time.Duration(step+1) * 500 * time.Millisecond)
			h.waitArmed(next)
			if got := h.del.count(); got != want {
				t.Fatalf("at step %d, %d attempts, want %d", step, got, want)
			}
			h.clock.Set(next)
		}
	}
}

func TestRunStopsWithoutLeaks(t *testing.T) {
	h := newHarness(t, testOptions())
	before := runtime.NumGoroutine()
	for range 10 {
		h.add("app@here.test", "a@x.test", "b@y.test")
	}
	h.start()
	waitFor(t, "all delivered", func() bool { return h.q.Stats().Delivered == 20 })
	h.stop()
	waitFor(t, "goroutines gone", func() bool { return runtime.NumGoroutine() <= before })
	if err := h.q.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown of a stopped queue: %v", err)
	}
	if err := h.q.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Shutdown = %v, want ErrClosed", err)
	}
}

// TestDeferredTogether: the recipients one attempt defers share one retry
// time despite jitter, so all-or-nothing retries them in one transaction
// instead of letting the accepted one go alone.
func TestDeferredTogether(t *testing.T) {
	opts := testOptions()
	var draws atomic.Int64
	opts.Rand = func(n int64) int64 { return draws.Add(7919) % n } // a different jitter each draw
	no := false
	opts.AtLeastOne = &no
	h := newHarness(t, opts)
	h.del.set(func(_ context.Context, env *delivery.Envelope) *delivery.Result {
		res := result(env, delivery.Deferred, temp451)
		for i, r := range env.Rcpts {
			if r == "gone@x.test" {
				res.Rcpts[i].Status, res.Rcpts[i].Reply = delivery.Bounced, perm550
			}
		}
		return res
	})
	id := h.add("app@here.test", "ok@x.test", "later@x.test", "gone@x.test")
	h.start()
	h.waitState(id, "gone@x.test", store.StateBounced)
	ok, later := h.fs.rcpt(t, id, "ok@x.test"), h.fs.rcpt(t, id, "later@x.test")
	if ok.State != store.StateDeferred || !ok.NextAttempt.Equal(later.NextAttempt) {
		t.Fatalf("deferred recipients: %+v and %+v, want one shared retry time", ok, later)
	}
	toX := func() []delivery.Envelope {
		var out []delivery.Envelope
		for _, e := range h.del.envelopes() {
			if e.Domain == "x.test" {
				out = append(out, e)
			}
		}
		return out
	}
	h.waitArmed(ok.NextAttempt)
	h.clock.Set(ok.NextAttempt)
	waitFor(t, "the retry", func() bool { return len(toX()) == 2 })
	if got := toX()[1].Rcpts; !slices.Equal(got, []string{"ok@x.test", "later@x.test"}) {
		t.Errorf("retry carried %v, want both deferred recipients together", got)
	}
}
