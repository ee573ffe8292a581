package maintenance

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/queue"
	"github.com/outbox-mta/outbox/store"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// world is a real spool and queue (never Run) with a settable clock.
type world struct {
	now time.Time
	db  *store.DB
	q   *queue.Queue
}

type noDeliverer struct{}

func (noDeliverer) Deliver(context.Context, *delivery.Envelope) *delivery.Result { return nil }

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{now: t0}
	log := slog.New(slog.DiscardHandler)
	db, err := store.Open(t.TempDir(), store.Options{Logger: log, Now: func() time.Time { return w.now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	w.db = db
	w.q, err = queue.New(db, noDeliverer{}, queue.Options{Hostname: "outbox.test", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) runner(t *testing.T, opts Options) *Runner {
	t.Helper()
	opts.Store, opts.Queue = w.db, w.q
	opts.Now = func() time.Time { return w.now }
	opts.Logger = slog.New(slog.DiscardHandler)
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// add spools a message received now from from with recipients in the
// given states and returns its ID.
func (w *world) add(t *testing.T, from string, states ...store.State) string {
	t.Helper()
	b, err := w.db.NewBody()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(b, "Subject: hello\r\nMessage-ID: <m@test>\r\n\r\nbody\r\n")
	m := &store.Message{From: from, Received: w.now}
	for i := range states {
		rc := store.Recipient{Addr: string(rune('a'+i)) + "@dest.example", State: store.StateQueued, NextAttempt: w.now}
		m.Recipients = append(m.Recipients, rc)
	}
	if err := w.db.Enqueue(context.Background(), m, b); err != nil {
		t.Fatal(err)
	}
	// Move recipients to their states through Update, as the queue does,
	// so bounces reach the bounce log.
	err = w.db.Update(context.Background(), m.ID, func(sm *store.Message) error {
		for i, st := range states {
			r := &sm.Recipients[i]
			r.State = st
			if st != store.StateQueued {
				r.Attempts = 1
				r.History = []store.Attempt{{Time: w.now, Host: "mx.dest.example[127.0.0.2]:25", Code: 451, Enhanced: "4.7.1", Reply: "try later", Result: st}}
				r.LastReply = "451 4.7.1 try later"
			}
			if st == store.StateDeferred {
				r.NextAttempt = w.now.Add(time.Hour)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m.ID
}

func (w *world) ids(t *testing.T) map[string]bool {
	t.Helper()
	msgs, err := w.db.List(context.Background(), store.Filter{Done: true, Limit: store.MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range msgs {
		out[m.ID] = true
	}
	return out
}

func TestPruneRemovesOnlyWhatIsPastRetention(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	delivered := w.add(t, "s@src.example", store.StateDelivered)
	bounced := w.add(t, "s@src.example", store.StateBounced, store.StateDelivered)
	pending := w.add(t, "s@src.example", store.StateDeferred)
	held := w.add(t, "s@src.example", store.StateHeld)
	w.now = t0.Add(6 * 24 * time.Hour)
	recent := w.add(t, "s@src.example", store.StateDelivered)

	r := w.runner(t, Options{Retention: 7 * 24 * time.Hour, BounceRetention: 30 * 24 * time.Hour})
	bounceRows := func() int {
		b, err := w.db.Bounces(ctx, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		return len(b)
	}
	if n := bounceRows(); n != 1 {
		t.Fatalf("bounce log has %d rows before pruning, want 1", n)
	}

	steps := []struct {
		at      time.Duration
		want    []string
		bounces int
	}{
		{7*24*time.Hour - time.Minute, []string{delivered, bounced, pending, held, recent}, 1},
		{8 * 24 * time.Hour, []string{pending, held, recent}, 1},
		{14 * 24 * time.Hour, []string{pending, held}, 1},
		{31 * 24 * time.Hour, []string{pending, held}, 0},
	}
	for _, s := range steps {
		w.now = t0.Add(s.at)
		if err := r.Prune(ctx); err != nil {
			t.Fatal(err)
		}
		got := w.ids(t)
		if len(got) != len(s.want) {
			t.Errorf("at +%v: %d messages left, want %d", s.at, len(got), len(s.want))
		}
		for _, id := range s.want {
			if !got[id] {
				t.Errorf("at +%v: message %s was pruned, want kept", s.at, id)
			}
		}
		if n := bounceRows(); n != s.bounces {
			t.Errorf("at +%v: %d bounce rows, want %d", s.at, n, s.bounces)
		}
	}
}

// notices returns the delay notices queued: null-sender messages.
func (w *world) notices(t *testing.T) []*store.Message {
	t.Helper()
	msgs, err := w.db.List(context.Background(), store.Filter{Limit: store.MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	var out []*store.Message
	for _, m := range msgs {
		if m.From == "" {
			out = append(out, m)
		}
	}
	return out
}

func TestDelayWarningSentOnce(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	late := w.add(t, "late@src.example", store.StateDeferred, store.StateDelivered)
	w.add(t, "fresh@src.example", store.StateQueued) // never tried: not delayed
	w.add(t, "", store.StateDeferred)                // null sender: never warned
	r := w.runner(t, Options{DelayWarning: 4 * time.Hour})

	w.now = t0.Add(3 * time.Hour)
	if err := r.DelayWarnings(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(w.notices(t)); n != 1 { // the null-sender message itself
		t.Fatalf("before delay_warning: %d null-sender messages, want 1 (no notice)", n)
	}

	w.now = t0.Add(5 * time.Hour)
	for range 3 {
		if err := r.DelayWarnings(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var notice *store.Message
	for _, m := range w.notices(t) {
		if len(m.Recipients) == 1 && m.Recipients[0].Addr == "late@src.example" {
			if notice != nil {
				t.Fatal("two delay notices for one message")
			}
			notice = m
		} else if m.Recipients[0].Addr != "a@dest.example" {
			t.Errorf("unexpected notice to %s", m.Recipients[0].Addr)
		}
	}
	if notice == nil {
		t.Fatal("no delay notice to late@src.example")
	}
	rc, err := w.db.OpenBody(ctx, notice.ID)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rc)
	rc.Close()
	for _, want := range []string{"Action: delayed", "Final-Recipient: rfc822; a@dest.example", "Subject: hello", "X-Outbox-Queue-ID: " + late,
		"Will-Retry-Until: Thu, 06 Mar 2025 12:00:00 +0000"} { // Received + the queue's MaxLifetime
		if !strings.Contains(string(body), want) {
			t.Errorf("notice lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(string(body), "b@dest.example") {
		t.Error("notice reports the delivered recipient")
	}
	m, err := w.db.Get(ctx, late)
	if err != nil {
		t.Fatal(err)
	}
	if !m.DelayWarned {
		t.Error("DelayWarned not set")
	}
	if got := w.q.Stats().DSNs; got != 1 {
		t.Errorf("queue counted %d notices, want 1", got)
	}
}

func TestDelayWarningOff(t *testing.T) {
	w := newWorld(t)
	w.add(t, "late@src.example", store.StateDeferred)
	r := w.runner(t, Options{})
	w.now = t0.Add(100 * time.Hour)
	if err := r.DelayWarnings(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(w.notices(t)); n != 0 {
		t.Errorf("%d notices with delay warnings off", n)
	}
}

func TestCompactHint(t *testing.T) {
	tests := []struct {
		size, free int64
		want       bool
	}{
		{100 << 20, 60 << 20, true},
		{100 << 20, 40 << 20, false},
		{10 << 20, 9 << 20, false}, // too small to matter
		{0, 0, false},
	}
	for _, tt := range tests {
		if got := compactHint(tt.size, tt.free, DefaultCompactMinBytes, DefaultCompactHint); got != tt.want {
			t.Errorf("compactHint(%d, %d) = %t, want %t", tt.size, tt.free, got, tt.want)
		}
	}
}

func TestNewRejectsBadSchedule(t *testing.T) {
	w := newWorld(t)
	_, err := New(Options{Store: w.db, Queue: w.q, Schedules: Schedules{Prune: "61 * * * *"}})
	if err == nil || !strings.Contains(err.Error(), "prune") {
		t.Errorf("New with a bad schedule: %v, want an error naming prune", err)
	}
}

// TestRunShutdown runs the real scheduler with every job until Shutdown,
// which makes Run return ErrClosed; a Run after Shutdown returns at once.
func TestRunShutdown(t *testing.T) {
	w := newWorld(t)
	r := w.runner(t, Options{Schedules: Schedules{Prune: "@every 1s", Stats: "@every 1s", Sweep: "@every 1s", DelayWarnings: "@every 1s"}})
	ran := make(chan error, 1)
	go func() { ran <- r.Run(context.Background()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-ran; !errors.Is(err, ErrClosed) {
		t.Errorf("Run returned %v, want ErrClosed", err)
	}
	if err := r.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Shutdown returned %v, want ErrClosed", err)
	}
}

// TestRunCancelled: cancelling Run's context ends it with the context's
// error.
func TestRunCancelled(t *testing.T) {
	w := newWorld(t)
	r := w.runner(t, Options{Schedules: Schedules{Stats: "@every 1s"}})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- r.Run(ctx) }()
	cancel()
	if err := <-ran; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v, want context.Canceled", err)
	}
}

// TestPruneIdempotencyKeys: the prune job forgets an idempotency key once
// it is older than IdempotencyRetention, so the key spools anew.
func TestPruneIdempotencyKeys(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	once := func() *store.Idempotency {
		t.Helper()
		b, err := w.db.NewBody()
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(b, "Subject: x\r\n\r\nbody\r\n")
		m := &store.Message{From: "s@src.example", Recipients: []store.Recipient{{Addr: "a@dest.example", State: store.StateQueued, NextAttempt: w.now}}}
		prior, err := w.db.EnqueueOnce(ctx, m, b, &store.Idempotency{Key: "k", Response: []byte("r")}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if prior != nil {
			b.Discard()
		}
		return prior
	}
	if once() != nil {
		t.Fatal("first submission found a record")
	}
	r := w.runner(t, Options{IdempotencyRetention: 24 * time.Hour})
	w.now = t0.Add(23 * time.Hour)
	if err := r.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if once() == nil {
		t.Fatal("the key was forgotten within its retention")
	}
	w.now = t0.Add(25 * time.Hour)
	if err := r.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if once() != nil {
		t.Fatal("the key is remembered past its retention")
	}
}

// TestPruneEvents: the prune job drops events older than EventRetention
// and keeps the newer ones, whose numbers do not change.
func TestPruneEvents(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.add(t, "s@src.example", store.StateQueued)
	w.now = t0.Add(2 * 24 * time.Hour)
	w.add(t, "s@src.example", store.StateQueued)
	r := w.runner(t, Options{EventRetention: 3 * 24 * time.Hour})
	count := func() []store.Event {
		evs, err := w.db.Events(ctx, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}
	w.now = t0.Add(3*24*time.Hour - time.Minute)
	if err := r.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(count()); n != 2 {
		t.Fatalf("%d events within retention, want 2", n)
	}
	w.now = t0.Add(3*24*time.Hour + time.Minute)
	if err := r.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if evs := count(); len(evs) != 1 || evs[0].Seq != 2 {
		t.Fatalf("after prune: %+v, want only event 2", evs)
	}
}
