package queue

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/store"
)

// The queue over the real bbolt spool: enqueue through the queue, partial
// result, bounce-log row, notice spooled and delivered in turn, restart.
func TestWithRealStore(t *testing.T) {
	dir := t.TempDir()
	quiet := slog.New(slog.DiscardHandler)
	db, err := store.Open(dir, store.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { db.Close() }()
	clock := newFakeClock()
	del := &fakeDeliverer{}
	del.set(outcomeByRecipient)
	opts := testOptions()
	opts.Clock = clock
	q, err := New(db, del, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- q.Run(ctx) }()

	m := &store.Message{From: "app@here.test", Recipients: []store.Recipient{
		{Addr: "ok@x.test"}, {Addr: "gone@x.test"}, {Addr: "later@y.test"},
	}}
	if err := submit(db, q, m, "Subject: real\r\n\r\nhello\r\n"); err != nil {
		t.Fatal(err)
	}
	state := func(id, addr string) store.State { return stateOf(db, id, addr) }
	waitFor(t, "outcomes", func() bool {
		return state(m.ID, "ok@x.test") == store.StateDelivered &&
			state(m.ID, "gone@x.test") == store.StateBounced &&
			state(m.ID, "later@y.test") == store.StateDeferred
	})
	var dsnID string
	waitFor(t, "notice spooled", func() bool {
		got, _ := db.Get(context.Background(), m.ID)
		dsnID = got.DSNID
		return dsnID != "" && !got.DSNPending
	})
	waitFor(t, "notice delivered", func() bool { return state(dsnID, "app@here.test") == store.StateDelivered })
	checkBounceNotice(t, q, db, del, m.ID, dsnID)

	// Restart on the same spool: the deferred recipient is retried on time.
	cancel()
	if err := <-runErr; err != context.Canceled {
		t.Fatalf("Run = %v", err)
	}
	db.Close()
	db, err = store.Open(dir, store.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	del.set(nil) // everything accepted now
	q, err = New(db, del, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go func() { runErr <- q.Run(ctx) }()
	clock.Advance(5 * time.Minute)
	waitFor(t, "retry delivered", func() bool { return state(m.ID, "later@y.test") == store.StateDelivered })
	got, _ := db.Get(context.Background(), m.ID)
	if !got.Done() || !strings.HasPrefix(got.Recipients[2].LastReply, "250") {
		t.Errorf("after retry %+v", got)
	}
	cancel()
	<-runErr
}

// stateOf is the state of recipient addr of message id in db, 0 when the
// message or recipient is not there.
func stateOf(db *store.DB, id, addr string) store.State {
	got, err := db.Get(context.Background(), id)
	if err != nil {
		return 0
	}
	for _, r := range got.Recipients {
		if r.Addr == addr {
			return r.State
		}
	}
	return 0
}

// checkBounceNotice: message msgID's bounce notice dsnID has the notice's
// subject and RFC 3464 fields, went from <> to the sender, and the bounce
// log holds gone@x.test's 550 with its host and attempt count.
func checkBounceNotice(t *testing.T, q *Queue, db *store.DB, del *fakeDeliverer, msgID, dsnID string) {
	t.Helper()
	if h, err := q.Ops().Headers(context.Background(), dsnID); err != nil || !strings.Contains(h, "Subject: Undelivered Mail Returned to Sender\r\n") {
		t.Errorf("notice headers %q, %v", h, err)
	}
	rc, err := db.OpenBody(context.Background(), dsnID)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(rc)
	rc.Close()
	for _, want := range []string{"Reporting-MTA: dns; outbox.test", "X-Outbox-Queue-ID: " + msgID, "Final-Recipient: rfc822; gone@x.test", "Subject: real"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("notice lacks %q:\n%s", want, body)
		}
	}
	bs, err := q.Ops().Bounces(context.Background(), time.Time{})
	if err != nil || len(bs) != 1 || bs[0].Rcpt != "gone@x.test" || bs[0].Code != 550 || bs[0].Enhanced != "5.1.1" ||
		bs[0].Host != "mx.x.test[127.0.0.2]:25" || bs[0].Attempts != 1 {
		t.Errorf("bounce log %+v, %v", bs, err)
	}
	for _, e := range del.envelopes() {
		if e.MsgID == dsnID && (e.From != "" || e.Rcpts[0] != "app@here.test") {
			t.Errorf("notice envelope %+v", e)
		}
	}
}

// TestMissingBodyQuarantined: a message whose body file is gone is
// quarantined at its first attempt — not deferred and retried for days,
// blamed on the relay — and its outcome is not logged as a failed commit.
func TestMissingBodyQuarantined(t *testing.T) {
	var logs syncBuffer
	db, err := store.Open(t.TempDir(), store.Options{InlineMax: 16, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b, _ := db.NewBody()
	b.Write([]byte("Subject: big\r\n\r\n" + strings.Repeat("body ", 100)))
	m := &store.Message{From: "app@here.test", Recipients: []store.Recipient{{Addr: "r@x.test"}}}
	if err := db.Enqueue(ctx, m, b); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(db.Dir(), "bodies", m.ID)); err != nil {
		t.Fatal(err)
	}

	del := &fakeDeliverer{}
	del.set(func(_ context.Context, env *delivery.Envelope) *delivery.Result {
		if _, err := env.Body(); err != nil { // as delivery answers it
			return result(env, delivery.Deferred, delivery.Reply{Enhanced: "4.3.0", Text: "opening the message body: " + err.Error()})
		}
		return result(env, delivery.Delivered, ok250)
	})
	opts := testOptions()
	opts.Clock = newFakeClock()
	opts.DSN = false
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	q, err := New(db, del, opts)
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- q.Run(ctx) }()

	waitFor(t, "the message quarantined", func() bool {
		qs, _ := db.Quarantined(context.Background())
		return len(qs) == 1
	})
	cancel()
	<-runErr
	qs, _ := db.Quarantined(context.Background())
	got, err := store.DecodeMessage(qs[0].Raw)
	if err != nil || got.Recipients[0].Attempts != 0 || got.Recipients[0].State != store.StateQueued {
		t.Errorf("quarantined record %+v (%v): want it as it was, no deferral recorded", got, err)
	}
	if due, _ := db.Due(context.Background(), time.Now().Add(10*24*time.Hour), 0, nil); len(due) != 0 {
		t.Errorf("still due: %v", due)
	}
	l := logs.String()
	if !strings.Contains(l, "level=ERROR") || !strings.Contains(l, filepath.Join(db.Dir(), "bodies", m.ID)) {
		t.Errorf("no ERROR naming the body file:\n%s", l)
	}
	if strings.Contains(l, "cannot record delivery outcome") {
		t.Errorf("a quarantined message logged as a failed commit:\n%s", l)
	}
}

// syncBuffer is a bytes.Buffer for concurrent log writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
