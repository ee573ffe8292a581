package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/store"
)

func TestSuppressibleBounce(t *testing.T) {
	rcpt := func(code int, enh string) delivery.RcptResult {
		return delivery.RcptResult{Status: delivery.Bounced, AtRcpt: true, Reply: delivery.Reply{Code: code, Enhanced: enh}}
	}
	whole := func(code int, enh string) delivery.RcptResult {
		r := rcpt(code, enh)
		r.AtRcpt = false
		return r
	}
	for _, tt := range []struct {
		name string
		o    delivery.RcptResult
		want bool
	}{
		{"no such user", rcpt(550, "5.1.1"), true},
		{"other address status", rcpt(550, "5.1.0"), true},
		{"bad mailbox syntax", rcpt(553, "5.1.3"), true},
		{"moved", rcpt(551, "5.1.6"), true},
		{"mailbox disabled", rcpt(550, "5.2.1"), true},
		{"null MX, local decision", whole(0, "5.1.10"), true},
		{"null MX at RCPT", rcpt(556, "5.1.10"), true},
		{"policy", rcpt(550, "5.7.1"), false},
		{"spam", rcpt(554, "5.7.0"), false},
		{"content", rcpt(554, "5.6.0"), false},
		{"mailbox full", rcpt(552, "5.2.2"), false},
		{"bad destination system", rcpt(550, "5.1.2"), false},
		{"sender refused", rcpt(553, "5.1.8"), false},
		{"no enhanced code", rcpt(550, ""), false},
		{"whole transaction: MAIL FROM", whole(550, "5.1.1"), false},
		{"whole transaction: DATA", whole(554, "5.1.1"), false},
		{"deferred", delivery.RcptResult{Status: delivery.Deferred, AtRcpt: true, Reply: delivery.Reply{Code: 450, Enhanced: "4.1.1"}}, false},
		{"4xx code with 5.1.1", rcpt(450, "5.1.1"), false},
	} {
		if got := suppressibleBounce(tt.o); got != tt.want {
			t.Errorf("%s: suppressibleBounce(%+v) = %v, want %v", tt.name, tt.o, got, tt.want)
		}
	}
}

// realQueue is a queue over a real spool with a fake deliverer and clock.
type realQueue struct {
	t     *testing.T
	db    *store.DB
	q     *Queue
	del   *fakeDeliverer
	clock *fakeClock
}

func newRealQueue(t *testing.T, opts Options) *realQueue {
	t.Helper()
	db, err := store.Open(t.TempDir(), store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r := &realQueue{t: t, db: db, del: &fakeDeliverer{}, clock: newFakeClock()}
	opts.Clock = r.clock
	opts.Suppressions = db
	if r.q, err = New(db, r.del, opts); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.q.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v", err)
		}
	})
	return r
}

// send submits a message from app@here.test to rcpts and returns its ID.
func (r *realQueue) send(m *store.Message, rcpts ...string) string {
	r.t.Helper()
	m.From = "app@here.test"
	for _, a := range rcpts {
		m.Recipients = append(m.Recipients, store.Recipient{Addr: a})
	}
	if err := submit(r.db, r.q, m, "Subject: s\r\n\r\nhi\r\n"); err != nil {
		r.t.Fatal(err)
	}
	return m.ID
}

func (r *realQueue) rcpt(id, addr string) store.Recipient {
	m, err := r.db.Get(context.Background(), id)
	if err != nil {
		return store.Recipient{}
	}
	for _, rc := range m.Recipients {
		if rc.Addr == addr {
			return rc
		}
	}
	return store.Recipient{}
}

func (r *realQueue) waitFinal(id string) *store.Message {
	r.t.Helper()
	var m *store.Message
	waitFor(r.t, id+" final", func() bool {
		var err error
		m, err = r.db.Get(context.Background(), id)
		return err == nil && m.Done() && !m.DSNPending
	})
	return m
}

// attempted reports whether addr was in an envelope of message id.
func (r *realQueue) attempted(id, addr string) bool {
	for _, e := range r.del.envelopes() {
		if e.MsgID == id && strings.Contains(strings.Join(e.Rcpts, " "), addr) {
			return true
		}
	}
	return false
}

func (r *realQueue) listed(addr string) *store.Suppression {
	got, err := r.db.Suppressed(context.Background(), []string{addr}, r.clock.Now())
	if err != nil {
		r.t.Fatal(err)
	}
	if s, ok := got[addr]; ok {
		return &s
	}
	return nil
}

// scripted answers like a receiver that knows no "gone" user (550 5.1.1 at
// RCPT) and refuses "blocked" by policy (550 5.7.1 at RCPT).
func scripted(_ context.Context, env *delivery.Envelope) *delivery.Result {
	res := result(env, delivery.Delivered, ok250)
	for i, a := range env.Rcpts {
		switch {
		case strings.HasPrefix(a, "gone@"):
			res.Rcpts[i] = delivery.RcptResult{Rcpt: a, Status: delivery.Bounced, AtRcpt: true, Reply: perm550}
		case strings.HasPrefix(a, "blocked@"):
			res.Rcpts[i] = delivery.RcptResult{Rcpt: a, Status: delivery.Bounced, AtRcpt: true,
				Reply: delivery.Reply{Code: 550, Enhanced: "5.7.1", Text: "rejected by policy"}}
		}
	}
	return res
}

// TestSuppressedAfterUserUnknown: an address refused 5.1.1 at RCPT is
// listed with the reply; the next message to it is not attempted, bounces
// with class suppressed and sends the sender no notice; a policy refusal
// (5.7.1) lists nothing; removal lets the next message through; the
// per-message override sends anyway; NOTIFY=FAILURE asks for the notice.
func TestSuppressedAfterUserUnknown(t *testing.T) {
	r := newRealQueue(t, withList(testOptions()))
	r.del.set(scripted)
	ctx := context.Background()

	first := r.send(&store.Message{}, "gone@x.test", "blocked@x.test", "ok@x.test")
	if m := r.waitFinal(first); m.DSNID == "" {
		t.Fatal("no bounce notice for the first, real, bounce")
	}
	s := r.listed("gone@X.TEST")
	if s == nil || s.Reason != store.ReasonBounce || s.MsgID != first || !strings.Contains(s.Reply, "550 5.1.1 no such user") {
		t.Fatalf("after 550 5.1.1 the entry is %+v", s)
	}
	if s := r.listed("blocked@x.test"); s != nil {
		t.Fatalf("a policy refusal (5.7.1) listed the address: %+v", s)
	}

	r.del.set(nil) // the receiver would take everyone now
	second := r.send(&store.Message{}, "Gone@x.test", "gone@X.test", "blocked@x.test")
	m := r.waitFinal(second)
	if r.attempted(second, "gone@X.test") {
		t.Error("a suppressed address was attempted")
	}
	if !r.attempted(second, "blocked@x.test") {
		t.Error("an address refused by policy was not attempted again")
	}
	if got := r.rcpt(second, "Gone@x.test"); got.State != store.StateDelivered {
		t.Errorf("another local part (Gone) was taken for the suppressed one: %v", got.State)
	}
	got := r.rcpt(second, "gone@X.test")
	if got.State != store.StateBounced || got.Attempts != 0 || !strings.Contains(got.LastReply, "suppression list") {
		t.Errorf("suppressed recipient: %+v", got)
	}
	if m.DSNID != "" {
		t.Error("a suppressed recipient sent the sender a notice it did not ask for")
	}
	evs, _ := r.db.Events(ctx, 0, 0)
	var classes []string
	for _, e := range evs {
		if e.QueueID == second && e.Recipient == "gone@X.test" && e.Type == store.EventBounced {
			classes = append(classes, e.Class)
		}
	}
	if len(classes) != 1 || classes[0] != store.ClassSuppressed {
		t.Errorf("bounced events of the suppressed recipient: classes %v, want one %q", classes, store.ClassSuppressed)
	}
	if st := r.q.Stats(); st.BouncedBy[BounceSuppressed] != 1 {
		t.Errorf("BouncedBy = %v", st.BouncedBy)
	}
	bs, _ := r.db.Bounces(ctx, time.Time{})
	if last := bs[len(bs)-1]; last.MsgID != second || last.Rcpt != "gone@X.test" || last.Enhanced != suppressedEnhanced {
		t.Errorf("bounce log row %+v", last)
	}

	asked := &store.Message{}
	asked.Recipients = []store.Recipient{{Addr: "gone@x.test", Notify: store.NotifyFailure}}
	if m := r.waitFinal(r.send(asked)); m.DSNID == "" {
		t.Error("NOTIFY=FAILURE asked for the notice; none was sent")
	}

	override := r.send(&store.Message{IgnoreSuppressions: true}, "gone@x.test")
	r.waitFinal(override)
	if !r.attempted(override, "gone@x.test") {
		t.Error("IgnoreSuppressions: the recipient was not attempted")
	}
	// Delivered after all: the automatic entry is lifted.
	if s := r.listed("gone@x.test"); s != nil {
		t.Errorf("delivered, yet still listed: %+v", s)
	}

	if _, err := r.db.Suppress(ctx, store.Suppression{Addr: "gone@x.test", Reason: store.ReasonBounce}); err != nil {
		t.Fatal(err)
	}
	if err := r.db.Unsuppress(ctx, "gone@x.test"); err != nil {
		t.Fatal(err)
	}
	third := r.send(&store.Message{}, "gone@x.test")
	r.waitFinal(third)
	if got := r.rcpt(third, "gone@x.test"); got.State != store.StateDelivered {
		t.Errorf("after removal: %v %q", got.State, got.LastReply)
	}
}

func withList(opts Options) Options {
	opts.SuppressAfterExpirations = 2
	return opts
}

// TestSuppressAfterExpirations: the address is listed at the configured
// number of consecutive expirations, not before.
func TestSuppressAfterExpirations(t *testing.T) {
	opts := withList(testOptions())
	opts.DSN = false
	r := newRealQueue(t, opts)
	r.del.set(func(_ context.Context, env *delivery.Envelope) *delivery.Result {
		return result(env, delivery.Deferred, temp451)
	})
	expire := func() string {
		deadline := r.clock.Now().Add(time.Second)
		id := r.send(&store.Message{ExpireAt: deadline}, "slow@y.test")
		waitFor(t, "first attempt", func() bool { return r.rcpt(id, "slow@y.test").Attempts == 1 })
		// The dispatcher arms its timer for the next attempt (at the
		// latest the deadline) after the outcome commits; moving the
		// clock before that would leave the timer a second past it.
		next := r.rcpt(id, "slow@y.test").NextAttempt
		waitFor(t, "timer armed for the next attempt", func() bool {
			return slices.ContainsFunc(r.clock.armed(), func(at time.Time) bool { return at.Equal(next) })
		})
		r.clock.Set(deadline)
		r.waitFinal(id)
		if got := r.rcpt(id, "slow@y.test"); !strings.HasPrefix(got.LastReply, expiredEnhanced) {
			t.Fatalf("not expired: %q", got.LastReply)
		}
		return id
	}
	expire()
	if s := r.listed("slow@y.test"); s != nil {
		t.Fatalf("listed after one expiration of two: %+v", s)
	}
	second := expire()
	s := r.listed("slow@y.test")
	if s == nil || s.Reason != store.ReasonExpirations || s.MsgID != second {
		t.Fatalf("after two expirations: %+v", s)
	}
	third := r.send(&store.Message{}, "slow@y.test")
	r.waitFinal(third)
	if r.attempted(third, "slow@y.test") {
		t.Error("attempted after being listed")
	}
}

// TestSuppressionConcurrentChanges: entries added and removed while
// messages are dispatched. Every recipient ends final, either delivered or
// bounced as suppressed, each bounce has its bounce-log row, and the
// manual entries a delivery may not lift are still there.
func TestSuppressionConcurrentChanges(t *testing.T) {
	opts := testOptions()
	opts.Workers = 8
	opts.DSN = false
	r := newRealQueue(t, opts)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrs := make([]string, 10)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("u%d@z.test", i)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			a := addrs[i%len(addrs)]
			if i%2 == 0 {
				r.db.Suppress(ctx, store.Suppression{Addr: a})
			} else {
				r.db.Unsuppress(ctx, a)
			}
		}
	})
	var ids []string
	for i := range 200 {
		ids = append(ids, r.send(&store.Message{}, addrs[i%len(addrs)], addrs[(i+3)%len(addrs)]))
	}
	bounced := 0
	for _, id := range ids {
		m := r.waitFinal(id)
		for _, rc := range m.Recipients {
			switch rc.State {
			case store.StateDelivered:
			case store.StateBounced:
				bounced++
				if !strings.Contains(rc.LastReply, "suppression list") {
					t.Errorf("%s %s bounced: %q", id, rc.Addr, rc.LastReply)
				}
			default:
				t.Errorf("%s %s ended %v", id, rc.Addr, rc.State)
			}
		}
	}
	cancel()
	wg.Wait()
	bs, _ := r.db.Bounces(context.Background(), time.Time{})
	if len(bs) != bounced {
		t.Errorf("%d bounces, %d bounce-log rows", bounced, len(bs))
	}
	if bounced == 0 {
		t.Error("no recipient met an entry: the test proves nothing")
	}
	t.Logf("%d of %d recipients suppressed", bounced, 2*len(ids))
}
