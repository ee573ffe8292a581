package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// The event log: derived from each change in the transaction that records
// it, numbered by one sequence that never repeats.

// eventTypes lists (recipient, type) of evs, for compact comparisons.
func eventTypes(evs []store.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Recipient + " " + string(e.Type)
	}
	return out
}

func allEvents(t testing.TB, db Spool, after uint64) []store.Event {
	t.Helper()
	evs, err := db.Events(context.Background(), after, 0)
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	return evs
}

func testEventsLifecycle(t *testing.T, opener Opener) {
	db := open(opener, Options{})
	ctx := context.Background()
	id := enqueue(t, db, &store.Message{From: "a@x", User: "key:app", Recipients: rcpts("b@y", "c@z", "d@w"), MessageID: "<m1@x>",
		Tags: []string{"welcome"}, Metadata: map[string]string{"user": "42"}}, []byte("hi"))
	// One attempt: b delivered, c bounced 550 5.1.1, d deferred.
	next := T0.Add(time.Hour)
	err := db.Update(ctx, id, func(m *store.Message) error {
		at := func(r *store.Recipient, st store.State, code int, enh, text string) {
			r.Attempts++
			r.State = st
			r.History = append(r.History, store.Attempt{Time: T0, Host: "mx.y[192.0.2.1]:25", TLS: "TLS1.3 x verified",
				Code: code, Enhanced: enh, Reply: text, Result: st})
		}
		at(&m.Recipients[0], store.StateDelivered, 250, "2.0.0", "ok")
		at(&m.Recipients[1], store.StateBounced, 550, "5.1.1", "no such user")
		at(&m.Recipients[2], store.StateDeferred, 451, "4.3.0", "later")
		m.Recipients[2].NextAttempt = next
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Hold, release, warn, delete.
	for _, fn := range []func(m *store.Message) error{
		func(m *store.Message) error { m.Recipients[2].State = store.StateHeld; return nil },
		func(m *store.Message) error { m.Recipients[2].State = store.StateQueued; return nil },
		func(m *store.Message) error { m.Recipients[2].State = store.StateDeferred; return nil },
		func(m *store.Message) error { m.DelayWarned = true; return nil },
	} {
		if err := db.Update(ctx, id, fn); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	evs := allEvents(t, db, 0)
	want := []string{"b@y accepted", "c@z accepted", "d@w accepted",
		"b@y delivered", "c@z bounced", "d@w deferred",
		"d@w held", "d@w released", "d@w deferred", "d@w delay_warning", "d@w deleted"}
	if got := eventTypes(evs); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events:\n got %v\nwant %v", got, want)
	}
	for i, e := range evs {
		if e.Seq != uint64(i+1) || e.QueueID != id || e.MessageID != "<m1@x>" || e.From != "a@x" ||
			len(e.Tags) != 1 || e.Metadata["user"] != "42" || !e.Time.Equal(T0) || e.User != "key:app" {
			t.Errorf("event %d: common fields wrong: %+v", i, e)
		}
	}
	if e := evs[4]; e.Class != store.ClassRemote5xx || e.Reply != (store.Reply{Code: 550, Enhanced: "5.1.1", Text: "no such user"}) ||
		e.RemoteHost != "mx.y[192.0.2.1]:25" || e.TLS != "TLS1.3 x verified" || e.Attempt != 1 {
		t.Errorf("bounce event: %+v", e)
	}
	if e := evs[5]; !e.NextAttempt.Equal(next) || e.Reply.Code != 451 || e.Class != "" {
		t.Errorf("deferred event: %+v", e)
	}
	if db.LastEventSeq() != uint64(len(want)) {
		t.Errorf("LastEventSeq = %d, want %d", db.LastEventSeq(), len(want))
	}
	if got := allEvents(t, db, 9); len(got) != 2 || got[0].Seq != 10 {
		t.Errorf("Events(after 9) = %v", eventTypes(got))
	}
}

// testEventsCallerClass: a caller's description lends a derived event its
// class, and an event that matches no change is written as given.
func testEventsCallerClass(t *testing.T, opener Opener) {
	db := open(opener, Options{})
	ctx := context.Background()
	id := enqueue(t, db, &store.Message{From: "a@x", Recipients: rcpts("b@y", "c@y")}, []byte("hi"))
	err := db.Update(ctx, id, func(m *store.Message) error {
		m.Recipients[0].State = store.StateBounced
		m.Recipients[0].LastReply = "address suppressed"
		m.Events = append(m.Events,
			store.Event{Type: store.EventBounced, Recipient: "b@y", Class: store.ClassSuppressed},
			store.Event{Type: store.EventDelay, Recipient: "c@y"},
			store.Event{Type: store.EventDelay, Recipient: "c@y", Reply: store.Reply{Text: "again"}})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	evs := allEvents(t, db, 2)
	if got := eventTypes(evs); fmt.Sprint(got) != "[b@y bounced c@y delay_warning c@y delay_warning]" {
		t.Fatalf("events %v", got)
	}
	if evs[0].Class != store.ClassSuppressed || evs[0].Reply.Text != "address suppressed" || evs[1].QueueID != id {
		t.Errorf("events %+v", evs)
	}
	// Events is never persisted.
	m, err := db.Get(ctx, id)
	if err != nil || m.Events != nil {
		t.Fatalf("Get: %v, Events %v", err, m.Events)
	}
}

func testEventsAfterWakes(t *testing.T, opener Opener) {
	db := open(opener, Options{})
	ch := db.EventsAfter(0)
	select {
	case <-ch:
		t.Fatal("channel closed with no event")
	default:
	}
	enqueue(t, db, &store.Message{From: "a@x", Recipients: rcpts("b@y")}, []byte("1"))
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("not woken by a committed event")
	}
	select {
	case <-db.EventsAfter(0):
	default:
		t.Fatal("EventsAfter(0) not closed though event 1 exists")
	}
	ch = db.EventsAfter(1)
	db.Close()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("not woken by Close")
	}
}

// testEventsAtomic: no event without its outcome: an Update whose fn
// fails, and one that fails after writing (a missing message), write no
// event and consume no number.
func testEventsAtomic(t *testing.T, opener Opener) {
	db := open(opener, Options{})
	ctx := context.Background()
	id := enqueue(t, db, &store.Message{From: "a@x", Recipients: rcpts("b@y")}, []byte("hi"))
	boom := errors.New("boom")
	err := db.Update(ctx, id, func(m *store.Message) error {
		m.Recipients[0].State = store.StateDelivered
		m.Suppress = []store.Listing{{Suppression: store.Suppression{Addr: "b@y", Reason: store.ReasonBounce}}}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v", err)
	}
	if err := db.Update(ctx, "nosuchid", func(m *store.Message) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Update of a missing message = %v", err)
	}
	if evs := allEvents(t, db, 0); len(evs) != 1 || evs[0].Type != store.EventAccepted || db.LastEventSeq() != 1 {
		t.Fatalf("events after failed updates: %v (last %d)", eventTypes(evs), db.LastEventSeq())
	}
	if m, _ := db.Get(ctx, id); m.Recipients[0].State != store.StateQueued {
		t.Fatalf("state %v", m.Recipients[0].State)
	}
	if got, _ := db.Suppressed(ctx, []string{"b@y"}, T0); len(got) != 0 {
		t.Fatalf("a failed Update listed its address: %v", got)
	}
	if err := db.Update(ctx, id, func(m *store.Message) error { m.Recipients[0].State = store.StateDelivered; return nil }); err != nil {
		t.Fatal(err)
	}
	if evs := allEvents(t, db, 1); len(evs) != 1 || evs[0].Seq != 2 || evs[0].Type != store.EventDelivered {
		t.Fatalf("events: %+v", evs)
	}
}

// testEventsSequenceAcrossReopenAndPrune: numbers keep increasing after a
// restart and after the newest events were pruned.
func testEventsSequenceAcrossReopenAndPrune(t *testing.T, opener Opener) {
	var mu sync.Mutex
	now := T0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	db := open(opener, Options{Now: clock})
	enqueue(t, db, &store.Message{From: "a@x", Recipients: rcpts("b@y", "c@y")}, []byte("1"))
	mu.Lock()
	now = T0.Add(time.Hour)
	mu.Unlock()
	enqueue(t, db, &store.Message{From: "a@x", Recipients: rcpts("d@y")}, []byte("2"))
	n, err := db.PruneEvents(context.Background(), T0.Add(time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("PruneEvents = %d, %v; want 2", n, err)
	}
	if evs := allEvents(t, db, 0); len(evs) != 1 || evs[0].Seq != 3 {
		t.Fatalf("after prune: %+v", evs)
	}
	if n, _ := db.PruneEvents(context.Background(), clock().Add(time.Hour)); n != 1 {
		t.Fatalf("second prune removed %d", n)
	}
	db.Close()
	db = open(opener, Options{Now: clock})
	if db.LastEventSeq() != 3 {
		t.Fatalf("LastEventSeq after reopen = %d, want 3", db.LastEventSeq())
	}
	enqueue(t, db, &store.Message{From: "a@x", Recipients: rcpts("e@y")}, []byte("3"))
	if evs := allEvents(t, db, 0); len(evs) != 1 || evs[0].Seq != 4 {
		t.Fatalf("after reopen: %+v", evs)
	}
}

// testEventsConcurrent: concurrent outcomes get every event exactly once,
// numbered 1..n without a gap, each message's in the order of its changes.
func testEventsConcurrent(t *testing.T, opener Opener) {
	db := open(opener, Options{})
	ctx := context.Background()
	const writers, msgs = 4, 5
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range msgs {
				id := enqueue(t, db, &store.Message{From: "a@x", Recipients: rcpts(fmt.Sprintf("r%d.%d@y", w, i))}, []byte("x"))
				if err := db.Update(ctx, id, func(m *store.Message) error {
					m.Recipients[0].State = store.StateDelivered
					return nil
				}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	evs := allEvents(t, db, 0)
	if len(evs) != 2*writers*msgs {
		t.Fatalf("%d events, want %d", len(evs), 2*writers*msgs)
	}
	accepted := map[string]bool{}
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d numbered %d", i, e.Seq)
		}
		switch e.Type {
		case store.EventAccepted:
			accepted[e.Recipient] = true
		case store.EventDelivered:
			if !accepted[e.Recipient] {
				t.Fatalf("%s delivered before accepted", e.Recipient)
			}
		}
	}
	if db.LastEventSeq() != uint64(len(evs)) {
		t.Fatalf("LastEventSeq %d, want %d", db.LastEventSeq(), len(evs))
	}
}
