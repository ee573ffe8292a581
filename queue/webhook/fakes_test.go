package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/queue"
	"github.com/outbox-mta/outbox/store"
)

// fakeClock is queue.Clock under the test's control: timers fire on
// Advance, and each timer armed is reported on armed, so a test knows
// when the worker went to sleep and for how long.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	armed  chan time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), armed: make(chan time.Duration, 1000)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) queue.Timer {
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

// Advance moves the time on by d and fires the timers due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for _, t := range c.timers {
		if t.active && !t.at.After(c.now) {
			t.active = false
			select {
			case t.ch <- c.now:
			default:
			}
		}
	}
}

// sleep waits until the worker arms a timer and returns its duration.
func (c *fakeClock) sleep(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-c.armed:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("the worker never went to sleep")
		return 0
	}
}

type fakeTimer struct {
	c      *fakeClock
	ch     chan time.Time
	at     time.Time
	active bool
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Reset(d time.Duration) {
	t.c.mu.Lock()
	t.at, t.active = t.c.now.Add(d), true
	t.c.timers = append(t.c.timers, t)
	t.c.mu.Unlock()
	t.c.armed <- d
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.active = false
	return was
}

// fakeLog is an event log in memory.
type fakeLog struct {
	mu     sync.Mutex
	events []Event
	grew   chan struct{} // closed and replaced on each append
}

func newFakeLog() *fakeLog { return &fakeLog{grew: make(chan struct{})} }

// add appends n events of type typ.
func (l *fakeLog) add(typ string, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for range n {
		seq := uint64(len(l.events) + 1)
		l.events = append(l.events, Event{Seq: seq, Type: typ,
			JSON: json.RawMessage(fmt.Sprintf(`{"seq":%d,"type":%q}`, seq, typ))})
	}
	close(l.grew)
	l.grew = make(chan struct{})
}

func (l *fakeLog) Events(_ context.Context, after uint64, limit int) ([]Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Event
	for _, e := range l.events {
		if e.Seq > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (l *fakeLog) Wait(ctx context.Context, after uint64) error {
	for {
		l.mu.Lock()
		n, grew := uint64(len(l.events)), l.grew
		l.mu.Unlock()
		if n > after {
			return nil
		}
		select {
		case <-grew:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// fakeCursors keeps cursors in memory.
type fakeCursors struct {
	mu   sync.Mutex
	m    map[string]store.WebhookCursor
	puts int
}

func newFakeCursors() *fakeCursors { return &fakeCursors{m: map[string]store.WebhookCursor{}} }

func (f *fakeCursors) WebhookCursor(_ context.Context, name string) (store.WebhookCursor, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.m[name]
	return c, ok, nil
}

func (f *fakeCursors) PutWebhookCursor(_ context.Context, c store.WebhookCursor) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[c.Endpoint] = c
	f.puts++
	return nil
}

func (f *fakeCursors) get(name string) store.WebhookCursor {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m[name]
}

// call is one request a receiver got.
type call struct {
	header http.Header
	body   []byte
	seqs   []uint64
}

// receiver records requests and answers each with answer(n), n counting
// from 1.
type receiver struct {
	mu     sync.Mutex
	calls  []call
	answer func(n int, w http.ResponseWriter)
	got    chan struct{}
}

func newReceiver(t *testing.T, answer func(n int, w http.ResponseWriter)) (*receiver, *httptest.Server) {
	r := &receiver{answer: answer, got: make(chan struct{}, 1000)}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var b struct {
		Data struct {
			Events []struct {
				Seq uint64 `json:"seq"`
			} `json:"events"`
		} `json:"data"`
	}
	json.Unmarshal(body, &b)
	c := call{header: req.Header.Clone(), body: body}
	for _, e := range b.Data.Events {
		c.seqs = append(c.seqs, e.Seq)
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	n := len(r.calls)
	r.mu.Unlock()
	r.answer(n, w)
	r.got <- struct{}{}
}

// wait returns once the receiver has answered n calls in all.
func (r *receiver) wait(t *testing.T, n int) []call {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		calls := append([]call(nil), r.calls...)
		r.mu.Unlock()
		if len(calls) >= n {
			return calls
		}
		select {
		case <-r.got:
		case <-deadline:
			t.Fatalf("the receiver got %d calls, want %d", len(calls), n)
		}
	}
}

func ok(_ int, w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) }

// testSecret is a fixed secret: "whsec_" + base64 of 32 bytes.
const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func endpoint(t *testing.T, name, rawURL string) Endpoint {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return Endpoint{Name: name, URL: u, Secret: s}
}

// harness runs a dispatcher on fakes until the test ends.
type harness struct {
	d       *Dispatcher
	clock   *fakeClock
	log     *fakeLog
	cursors *fakeCursors
}

func start(t *testing.T, opts Options) *harness {
	t.Helper()
	h := &harness{clock: newFakeClock(), log: newFakeLog(), cursors: newFakeCursors()}
	if opts.Log == nil {
		opts.Log = h.log
	}
	if opts.Cursors == nil {
		opts.Cursors = h.cursors
	}
	opts.Clock = h.clock
	if opts.Linger == 0 {
		opts.Linger = -1 // each test that counts the worker's sleeps sets its own
	}
	opts.Rand = func(n int64) int64 { return n / 2 } // no jitter
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	d, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.d = d
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func storeCursor(name string, seq uint64) store.WebhookCursor {
	return store.WebhookCursor{Endpoint: name, Seq: seq}
}
