package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/store"
)

// seedDeferred adds a message whose recipients were deferred until an hour
// from now.
func (h *harness) seedDeferred(rcpts ...string) string {
	m := &store.Message{From: "app@here.test", Received: h.clock.Now()}
	for _, r := range rcpts {
		m.Recipients = append(m.Recipients, store.Recipient{Addr: r, State: store.StateDeferred, Attempts: 1,
			LastReply: "451 4.3.0 try later", NextAttempt: h.clock.Now().Add(time.Hour)})
	}
	return h.fs.add(m, "Subject: s\r\nFrom: app@here.test\r\n\r\nbody\r\n")
}

func TestHoldRelease(t *testing.T) {
	h := newHarness(t, testOptions())
	ctx := context.Background()
	id := h.seedDeferred("a@x.test", "b@x.test")
	h.start()
	if err := h.q.Ops().Hold(ctx, id); err != nil {
		t.Fatal(err)
	}
	for _, r := range h.fs.msg(t, id).Recipients {
		if r.State != store.StateHeld {
			t.Errorf("%s is %v after Hold", r.Addr, r.State)
		}
	}
	if next, ok, _ := h.fs.NextDue(ctx); ok {
		t.Errorf("held message still due at %v", next)
	}
	if err := h.q.Ops().Flush(ctx, id); err != nil {
		t.Fatal(err)
	}
	if got := h.fs.state(id, "a@x.test"); got != store.StateHeld {
		t.Errorf("Flush released a held recipient: %v", got)
	}
	if err := h.q.Ops().Release(ctx, id); err != nil {
		t.Fatal(err)
	}
	// Due now: delivered without moving the clock.
	h.waitState(id, "a@x.test", store.StateDelivered)
	h.waitState(id, "b@x.test", store.StateDelivered)
	if r := h.fs.rcpt(t, id, "a@x.test"); r.Attempts != 2 {
		t.Errorf("attempts %d, want 2", r.Attempts)
	}
}

func TestHoldKeepsFinalRecipients(t *testing.T) {
	h := newHarness(t, testOptions())
	m := &store.Message{From: "a@b.test", Received: t0, Recipients: []store.Recipient{
		{Addr: "done@x.test", State: store.StateDelivered},
		{Addr: "gone@x.test", State: store.StateBounced},
		{Addr: "wait@x.test", State: store.StateDeferred, NextAttempt: t0.Add(time.Hour)},
	}}
	id := h.fs.add(m, "x")
	if err := h.q.Ops().Hold(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	want := map[string]store.State{"done@x.test": store.StateDelivered, "gone@x.test": store.StateBounced, "wait@x.test": store.StateHeld}
	for a, st := range want {
		if got := h.fs.state(id, a); got != st {
			t.Errorf("%s: %v, want %v", a, got, st)
		}
	}
}

func TestFlush(t *testing.T) {
	h := newHarness(t, testOptions())
	ctx := context.Background()
	id := h.seedDeferred("a@down.test")
	other := h.seedDeferred("b@down.test")
	// The destination is backed off: a flush lifts that too.
	h.q.dest.set(t.Context(), "down.test", t0.Add(time.Hour), "refused", t0)
	h.start()
	if err := h.q.Ops().Flush(ctx, id); err != nil {
		t.Fatal(err)
	}
	h.waitState(id, "a@down.test", store.StateDelivered)
	if got := h.fs.state(other, "b@down.test"); got != store.StateDeferred {
		t.Errorf("unflushed message is %v", got)
	}
	if r := h.fs.rcpt(t, other, "b@down.test"); !r.NextAttempt.Equal(t0.Add(time.Hour)) {
		t.Errorf("unflushed message's next attempt moved to %v", r.NextAttempt)
	}
}

func TestFlushDomainPages(t *testing.T) {
	h := newHarness(t, testOptions())
	h.fs.pageSize = 2
	ctx := context.Background()
	var in []string
	for range 3 {
		in = append(in, h.seedDeferred("a@d.test", "b@keep.test"))
	}
	out := h.seedDeferred("c@keep.test")
	held := h.seedDeferred("d@d.test")
	if err := h.q.Ops().Hold(ctx, held); err != nil {
		t.Fatal(err)
	}
	h.start()
	n, err := h.q.Ops().FlushDomain(ctx, "D.test.")
	if err != nil || n != 3 {
		t.Fatalf("FlushDomain = %d, %v; want 3", n, err)
	}
	for _, id := range in {
		h.waitState(id, "a@d.test", store.StateDelivered)
		if got := h.fs.state(id, "b@keep.test"); got != store.StateDeferred {
			t.Errorf("recipient in another domain flushed: %v", got)
		}
	}
	if got := h.fs.state(out, "c@keep.test"); got != store.StateDeferred {
		t.Errorf("other domain: %v", got)
	}
	if got := h.fs.state(held, "d@d.test"); got != store.StateHeld {
		t.Errorf("held: %v", got)
	}
	if _, err := h.q.Ops().FlushDomain(ctx, ""); err == nil {
		t.Error("FlushDomain(\"\") succeeded")
	}
}

func TestFlushAll(t *testing.T) {
	h := newHarness(t, testOptions())
	h.fs.pageSize = 2
	var ids []string
	for range 5 {
		ids = append(ids, h.seedDeferred("a@x.test"))
	}
	h.start()
	n, err := h.q.Ops().FlushAll(context.Background())
	if err != nil || n != 5 {
		t.Fatalf("FlushAll = %d, %v; want 5", n, err)
	}
	for _, id := range ids {
		h.waitState(id, "a@x.test", store.StateDelivered)
	}
}

func TestDeleteAndNotFound(t *testing.T) {
	h := newHarness(t, testOptions())
	ctx := context.Background()
	id := h.seedDeferred("a@x.test")
	if err := h.q.Ops().Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	ops := map[string]func() error{
		"Get":     func() error { _, err := h.q.Ops().Get(ctx, id); return err },
		"Headers": func() error { _, err := h.q.Ops().Headers(ctx, id); return err },
		"Flush":   func() error { return h.q.Ops().Flush(ctx, id) },
		"Hold":    func() error { return h.q.Ops().Hold(ctx, id) },
		"Release": func() error { return h.q.Ops().Release(ctx, id) },
		"Delete":  func() error { return h.q.Ops().Delete(ctx, id) },
	}
	for name, op := range ops {
		if err := op(); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s of a deleted message: %v, want ErrNotFound", name, err)
		}
	}
}

func TestHeaders(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"crlf", "Subject: a\r\nFrom: b\r\n\r\nbody\r\n\r\nmore", "Subject: a\r\nFrom: b\r\n"},
		{"lf", "Subject: a\n folded\n\nbody", "Subject: a\n folded\n"},
		{"no body", "Subject: a\r\n", "Subject: a\r\n"},
		{"no final newline", "Subject: a", "Subject: a"},
		{"empty", "", ""},
		{"body only", "\r\nbody", ""},
	}
	h := newHarness(t, testOptions())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := h.fs.add(&store.Message{Recipients: []store.Recipient{{Addr: "a@x.test"}}}, tt.body)
			got, err := h.q.Ops().Headers(context.Background(), id)
			if err != nil || got != tt.want {
				t.Errorf("Headers = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestListAndGet(t *testing.T) {
	h := newHarness(t, testOptions())
	ctx := context.Background()
	a := h.seedDeferred("a@Mixed.test")
	h.seedDeferred("b@other.test")
	ms, err := h.q.Ops().List(ctx, store.Filter{Domain: "MIXED.test"})
	if err != nil || len(ms) != 1 || ms[0].ID != a {
		t.Fatalf("List by domain = %v, %v", ms, err)
	}
	m, err := h.q.Ops().Get(ctx, a)
	if err != nil || m.Recipients[0].Addr != "a@Mixed.test" {
		t.Fatalf("Get = %+v, %v", m, err)
	}
}

// A hold during an attempt stands for the recipients it deferred; the
// attempt is still recorded, and final outcomes override the hold.
func TestHoldDuringDelivery(t *testing.T) {
	h := newHarness(t, testOptions())
	release := make(chan struct{})
	h.del.set(func(_ context.Context, env *delivery.Envelope) *delivery.Result {
		<-release
		res := result(env, delivery.Deferred, temp451)
		res.Rcpts[1].Status, res.Rcpts[1].Reply = delivery.Delivered, ok250
		return res
	})
	id := h.add("app@here.test", "a@x.test", "b@x.test")
	h.start()
	waitFor(t, "in flight", func() bool { return h.q.Stats().InFlight == 1 })
	if err := h.q.Ops().Hold(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	close(release)
	h.waitState(id, "b@x.test", store.StateDelivered)
	if r := h.fs.rcpt(t, id, "a@x.test"); r.State != store.StateHeld || r.Attempts != 1 || len(r.History) != 1 {
		t.Errorf("held recipient after a deferral %+v", r)
	}
}

// TestRecipientRules: the operator's rules for one recipient, by state.
func TestRecipientRules(t *testing.T) {
	now := t0
	later, earlier := now.Add(time.Hour), now.Add(-time.Hour)
	tests := []struct {
		state   store.State
		next    time.Time
		flushed bool        // flushRecipient's report
		flush   time.Time   // NextAttempt after flushRecipient
		hold    store.State // State after holdRecipient
		release store.State // State after releaseRecipient
	}{
		{store.StateQueued, later, true, now, store.StateHeld, store.StateQueued},
		{store.StateDeferred, later, true, now, store.StateHeld, store.StateDeferred},
		{store.StateDeferred, earlier, true, earlier, store.StateHeld, store.StateDeferred}, // already due: kept
		{store.StateHeld, later, false, later, store.StateHeld, store.StateQueued},
		{store.StateDelivered, later, false, later, store.StateDelivered, store.StateDelivered},
		{store.StateBounced, later, false, later, store.StateBounced, store.StateBounced},
	}
	for _, tt := range tests {
		r := store.Recipient{State: tt.state, NextAttempt: tt.next}
		if got := flushRecipient(&r, now); got != tt.flushed || !r.NextAttempt.Equal(tt.flush) {
			t.Errorf("flush %v due %v: %v, due %v; want %v, due %v", tt.state, tt.next, got, r.NextAttempt, tt.flushed, tt.flush)
		}
		r = store.Recipient{State: tt.state, NextAttempt: tt.next}
		if holdRecipient(&r); r.State != tt.hold {
			t.Errorf("hold %v: %v, want %v", tt.state, r.State, tt.hold)
		}
		r = store.Recipient{State: tt.state, NextAttempt: tt.next}
		releaseRecipient(&r, now)
		if r.State != tt.release || (tt.state == store.StateHeld && !r.NextAttempt.Equal(now)) {
			t.Errorf("release %v: %v due %v, want %v", tt.state, r.State, r.NextAttempt, tt.release)
		}
	}
}
