package queue

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/store"
)

// fakeClock is a manual clock: time moves only in Advance, which fires the
// timers that came due.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newFakeClock() *fakeClock { return &fakeClock{now: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1)}
	c.mu.Lock()
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	t.Reset(d)
	return t
}

// Advance moves the clock by d and fires the timers due by then.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for _, t := range c.timers {
		t.fireLocked()
	}
}

// Set moves the clock to at (never backwards).
func (c *fakeClock) Set(at time.Time) {
	c.mu.Lock()
	d := at.Sub(c.now)
	c.mu.Unlock()
	if d > 0 {
		c.Advance(d)
	}
}

// armed returns the deadlines of the running timers.
func (c *fakeClock) armed() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ts []time.Time
	for _, t := range c.timers {
		if t.on {
			ts = append(ts, t.when)
		}
	}
	return ts
}

type fakeTimer struct {
	c    *fakeClock
	ch   chan time.Time
	when time.Time
	on   bool
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Reset(d time.Duration) {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	t.drainLocked()
	t.when, t.on = t.c.now.Add(d), true
	t.fireLocked()
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	t.drainLocked()
	was := t.on
	t.on = false
	return was
}

func (t *fakeTimer) drainLocked() {
	select {
	case <-t.ch:
	default:
	}
}

func (t *fakeTimer) fireLocked() {
	if t.on && !t.when.After(t.c.now) {
		t.on = false
		select {
		case t.ch <- t.c.now:
		default:
		}
	}
}

// fakeDeliverer answers with fn and records every envelope.
type fakeDeliverer struct {
	mu       sync.Mutex
	fn       func(ctx context.Context, env *delivery.Envelope) *delivery.Result
	calls    []delivery.Envelope
	bodies   []string
	active   int
	maxInUse int
}

func (d *fakeDeliverer) Deliver(ctx context.Context, env *delivery.Envelope) *delivery.Result {
	body := ""
	if rc, err := env.Body(); err == nil {
		b, _ := io.ReadAll(rc)
		rc.Close()
		body = string(b)
	}
	d.mu.Lock()
	d.calls = append(d.calls, *env)
	d.bodies = append(d.bodies, body)
	d.active++
	d.maxInUse = max(d.maxInUse, d.active)
	fn := d.fn
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.active--
		d.mu.Unlock()
	}()
	if fn == nil {
		return result(env, delivery.Delivered, delivery.Reply{Code: 250, Enhanced: "2.0.0", Text: "ok"})
	}
	return fn(ctx, env)
}

func (d *fakeDeliverer) set(fn func(ctx context.Context, env *delivery.Envelope) *delivery.Result) {
	d.mu.Lock()
	d.fn = fn
	d.mu.Unlock()
}

func (d *fakeDeliverer) envelopes() []delivery.Envelope {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]delivery.Envelope(nil), d.calls...)
}

func (d *fakeDeliverer) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.calls)
}

// result answers every recipient of env with status and reply.
func result(env *delivery.Envelope, st delivery.Status, reply delivery.Reply) *delivery.Result {
	res := &delivery.Result{Host: "mx." + env.Domain + "[127.0.0.2]:25", TLS: "none"}
	for _, r := range env.Rcpts {
		res.Rcpts = append(res.Rcpts, delivery.RcptResult{Rcpt: r, Status: st, Reply: reply})
	}
	return res
}

var (
	ok250   = delivery.Reply{Code: 250, Enhanced: "2.0.0", Text: "ok"}
	temp451 = delivery.Reply{Code: 451, Enhanced: "4.3.0", Text: "try later"}
	perm550 = delivery.Reply{Code: 550, Enhanced: "5.1.1", Text: "no such user"}
	refused = delivery.Reply{Text: "dial tcp 127.0.0.2:25: connection refused"}
)

// notices reads the notices the queue spooled into the fake store: the
// null-sender messages that carry an X-Outbox-Queue-ID field.
type notices struct{ fs *fakeStore }

type notice struct {
	msgID   string   // the message the notice is about
	from    string   // its sender, the notice's recipient
	bounced []string // the recipients it reports (Final-Recipient), in order
}

// list returns the notices in the order they were spooled.
func (n *notices) list() []notice {
	n.fs.mu.Lock()
	defer n.fs.mu.Unlock()
	ids := make([]string, 0, len(n.fs.msgs))
	for id, m := range n.fs.msgs {
		if m.From == "" {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var out []notice
	for _, id := range ids {
		nt := notice{from: n.fs.msgs[id].Recipients[0].Addr}
		for line := range strings.SplitSeq(string(n.fs.bodies[id]), "\r\n") {
			if v, ok := strings.CutPrefix(line, "X-Outbox-Queue-ID: "); ok {
				nt.msgID = v
			} else if v, ok := strings.CutPrefix(line, "Final-Recipient: rfc822; "); ok {
				nt.bounced = append(nt.bounced, v)
			}
		}
		if nt.msgID != "" {
			out = append(out, nt)
		}
	}
	return out
}

// harness is a queue over a fake store, deliverer and clock.
type harness struct {
	t     *testing.T
	q     *Queue
	fs    *fakeStore
	del   *fakeDeliverer
	clock *fakeClock
	dsn   *notices

	cancel context.CancelFunc
	runErr chan error
}

// testOptions are the defaults of queue tests: few workers, no start-up
// spread, no jitter, DSNs on, silent logs.
func testOptions() Options {
	return Options{
		Workers:  4,
		Warmup:   -1,
		DSN:      true,
		Hostname: "outbox.test",
		Rand:     func(n int64) int64 { return n / 2 }, // zero jitter
		Logger:   slog.New(slog.DiscardHandler),
	}
}

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	h := &harness{t: t, clock: newFakeClock(), del: &fakeDeliverer{}}
	h.fs = newFakeStore(t, h.clock.Now)
	h.dsn = &notices{fs: h.fs}
	opts.Clock = h.clock
	q, err := New(h.fs, h.del, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.q = q
	return h
}

// start runs the queue until the test ends.
func (h *harness) start() {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.runErr = make(chan error, 1)
	go func() { h.runErr <- h.q.Run(ctx) }()
	h.t.Cleanup(func() { h.stop() })
}

// stop cancels Run and waits for it to return.
func (h *harness) stop() {
	h.t.Helper()
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.runErr:
		if !errors.Is(err, context.Canceled) {
			h.t.Errorf("Run returned %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		h.t.Fatal("Run did not return after cancel")
	}
}

// add seeds a message received now from from to rcpts, due now.
func (h *harness) add(from string, rcpts ...string) string {
	m := &store.Message{From: from, Received: h.clock.Now()}
	for _, r := range rcpts {
		m.Recipients = append(m.Recipients, store.Recipient{Addr: r, State: store.StateQueued, NextAttempt: h.clock.Now()})
	}
	return h.fs.add(m, "Subject: test\r\n\r\nhello\r\n")
}

// submit commits m with body as the listener does: it writes to the store
// itself, every recipient queued and due now, and tells the queue the
// commit's result (Spooled).
func submit(st Store, q *Queue, m *store.Message, body string) error {
	b, err := st.NewBody()
	if err != nil {
		return err
	}
	if _, err := b.Write([]byte(body)); err != nil {
		return err
	}
	now := q.clock.Now()
	m.Received = now
	for i := range m.Recipients {
		m.Recipients[i].State, m.Recipients[i].NextAttempt = store.StateQueued, now
	}
	err = st.Enqueue(context.Background(), m, b)
	q.Spooled(err)
	if err != nil {
		_ = b.Discard()
	}
	return err
}

// waitFor waits until cond holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // generous: CI machines are slow under -race
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // polling interval, not synchronization
	}
}

// waitState waits until recipient addr of id is in state st.
func (h *harness) waitState(id, addr string, st store.State) {
	h.t.Helper()
	waitFor(h.t, id+" "+addr+" "+st.String(), func() bool { return h.fs.state(id, addr) == st })
}

// waitArmed waits until the dispatcher's timer is armed for at.
func (h *harness) waitArmed(at time.Time) {
	h.t.Helper()
	waitFor(h.t, "timer armed for "+at.String(), func() bool {
		for _, w := range h.clock.armed() {
			if w.Equal(at) {
				return true
			}
		}
		return false
	})
}
