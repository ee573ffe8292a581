package queue

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/store"
)

// TestEventsOverRealStore: the queue's outcomes and the operator's
// commands reach the store's event log with the reply, host, TLS, attempt
// number and class they had.
func TestEventsOverRealStore(t *testing.T) {
	r := newEventsRig(t)
	m := &store.Message{From: "app@here.test", MessageID: "<m1@here.test>", Tags: []string{"t1"}, Recipients: []store.Recipient{
		{Addr: "ok@x.test"}, {Addr: "gone@x.test"}, {Addr: "later@y.test"}, {Addr: "nobody@nx.test"},
	}}
	if err := submit(r.db, r.q, m, "Subject: ev\r\n\r\nhello\r\n"); err != nil {
		t.Fatal(err)
	}
	r.id = m.ID
	waitFor(t, "first attempt's events", func() bool { return len(r.mine(t)) >= 8 })
	r.checkFirstAttempt(t)
	r.checkOperatorCommands(t)
	r.checkExpiry(t)
	r.checkDelete(t)
}

// eventsRig is a queue over a real store whose deliverer delivers to
// ok@x.test, bounces gone@x.test (550) and nobody@nx.test (no such
// domain) and defers later@y.test (451); id is the message under test.
type eventsRig struct {
	clock *fakeClock
	db    *store.DB
	q     *Queue
	id    string
}

func newEventsRig(t *testing.T) *eventsRig {
	clock := newFakeClock()
	db, err := store.Open(t.TempDir(), store.Options{Logger: slog.New(slog.DiscardHandler), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	del := &fakeDeliverer{}
	del.set(outcomeByRecipient)
	opts := testOptions()
	opts.Clock = clock
	opts.MaxLifetime = 6 * time.Minute
	q, err := New(db, del, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go q.Run(ctx)
	return &eventsRig{clock: clock, db: db, q: q}
}

// outcomeByRecipient delivers to every recipient but gone@x.test, bounced
// 550; later@y.test, deferred 451; and nobody@nx.test, bounced with no
// host as a domain that does not exist.
func outcomeByRecipient(_ context.Context, env *delivery.Envelope) *delivery.Result {
	res := result(env, delivery.Delivered, ok250)
	for i, r := range env.Rcpts {
		switch r {
		case "gone@x.test":
			res.Rcpts[i].Status, res.Rcpts[i].Reply = delivery.Bounced, perm550
		case "later@y.test":
			res.Rcpts[i].Status, res.Rcpts[i].Reply = delivery.Deferred, temp451
		case "nobody@nx.test":
			res.Host, res.TLS = "", ""
			res.Rcpts[i].Status, res.Rcpts[i].Reply = delivery.Bounced, delivery.Reply{Enhanced: "5.1.2", Text: "no such domain"}
		}
	}
	return res
}

// mine is the event log's events of the message under test.
func (r *eventsRig) mine(t *testing.T) []store.Event {
	t.Helper()
	evs, err := r.db.Events(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.Event
	for _, e := range evs {
		if e.QueueID == r.id {
			out = append(out, e)
		}
	}
	return out
}

// find is the nth (from 0) event of typ for rcpt, failing when there is none.
func (r *eventsRig) find(t *testing.T, typ store.EventType, rcpt string, nth int) store.Event {
	t.Helper()
	for _, e := range r.mine(t) {
		if e.Type == typ && e.Recipient == rcpt {
			if nth == 0 {
				return e
			}
			nth--
		}
	}
	t.Fatalf("no %s event for %s in %v", typ, rcpt, fmt.Sprint(r.mine(t)))
	return store.Event{}
}

// later is the deferred recipient as stored.
func (r *eventsRig) later() store.Recipient {
	got, _ := r.db.Get(context.Background(), r.id)
	return got.Recipients[2]
}

// checkFirstAttempt: each outcome's event carries its reply, host, TLS,
// attempt, class and the message's ID and tags.
func (r *eventsRig) checkFirstAttempt(t *testing.T) {
	host := "mx.x.test[127.0.0.2]:25"
	if e := r.find(t, store.EventDelivered, "ok@x.test", 0); e.Reply != (store.Reply{Code: 250, Enhanced: "2.0.0", Text: "ok"}) ||
		e.RemoteHost != host || e.TLS != "none" || e.Attempt != 1 || e.MessageID != "<m1@here.test>" || len(e.Tags) != 1 {
		t.Errorf("delivered: %+v", e)
	}
	if e := r.find(t, store.EventBounced, "gone@x.test", 0); e.Class != store.ClassRemote5xx || e.Reply.Code != 550 || e.RemoteHost != host {
		t.Errorf("bounced 5xx: %+v", e)
	}
	if e := r.find(t, store.EventBounced, "nobody@nx.test", 0); e.Class != store.ClassDNS || e.Reply.Enhanced != "5.1.2" || e.RemoteHost != "" {
		t.Errorf("bounced dns: %+v", e)
	}
	if e := r.find(t, store.EventDeferred, "later@y.test", 0); e.Reply.Code != 451 || e.Attempt != 1 ||
		e.NextAttempt.IsZero() || !e.NextAttempt.Equal(r.later().NextAttempt) {
		t.Errorf("deferred: %+v, recipient due %v", e, r.later().NextAttempt)
	}
}

// checkOperatorCommands: a delay warning names only the recipient it
// reported; hold and release are logged for it.
func (r *eventsRig) checkOperatorCommands(t *testing.T) {
	got, _ := r.db.Get(context.Background(), r.id)
	if err := r.q.WarnDelay(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	if e := r.find(t, store.EventDelay, "later@y.test", 0); e.Attempt != 1 {
		t.Errorf("delay warning: %+v", e)
	}
	ops := r.q.Ops()
	if err := ops.Hold(context.Background(), r.id); err != nil {
		t.Fatal(err)
	}
	r.find(t, store.EventHeld, "later@y.test", 0)
	if err := ops.Release(context.Background(), r.id); err != nil {
		t.Fatal(err)
	}
	r.find(t, store.EventReleased, "later@y.test", 0)
}

// checkExpiry: released, the recipient is due now, deferred again, then
// given up at the deadline with an expired bounce.
func (r *eventsRig) checkExpiry(t *testing.T) {
	waitFor(t, "second attempt", func() bool { return r.later().Attempts == 2 })
	if e := r.find(t, store.EventDeferred, "later@y.test", 1); e.Attempt != 2 {
		t.Errorf("second deferral: %+v", e)
	}
	deadline := t0.Add(6 * time.Minute)
	waitFor(t, "timer armed for the deadline", func() bool {
		for _, w := range r.clock.armed() {
			if w.Equal(deadline) {
				return true
			}
		}
		return false
	})
	r.clock.Set(deadline)
	waitFor(t, "expiry", func() bool { return r.later().State == store.StateBounced })
	if e := r.find(t, store.EventBounced, "later@y.test", 0); e.Class != store.ClassExpired || e.Reply.Enhanced != "4.4.7" || e.Attempt != 3 {
		t.Errorf("expired: %+v", e)
	}
}

// checkDelete: deleting a message logs a deleted event for each recipient
// not final, and the log's sequence has no gap.
func (r *eventsRig) checkDelete(t *testing.T) {
	m2 := &store.Message{From: "app@here.test", Recipients: []store.Recipient{{Addr: "later@y.test"}}}
	if err := submit(r.db, r.q, m2, "Subject: ev2\r\n\r\nhello\r\n"); err != nil {
		t.Fatal(err)
	}
	ops := r.q.Ops()
	if err := ops.Hold(context.Background(), m2.ID); err != nil {
		t.Fatal(err)
	}
	if err := ops.Delete(context.Background(), m2.ID); err != nil {
		t.Fatal(err)
	}
	evs, _ := r.db.Events(context.Background(), 0, 0)
	last := evs[len(evs)-1]
	if last.Type != store.EventDeleted || last.QueueID != m2.ID || last.Recipient != "later@y.test" {
		t.Errorf("last event %+v, want m2's deleted", last)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Seq != evs[i-1].Seq+1 {
			t.Fatalf("sequence gap between %d and %d", evs[i-1].Seq, evs[i].Seq)
		}
	}
}
