package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// eventTypes lists (recipient, type) of evs, for compact comparisons.
func eventTypes(evs []Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Recipient + " " + string(e.Type)
	}
	return out
}

func allEvents(t testing.TB, db *DB, after uint64) []Event {
	t.Helper()
	evs, err := db.Events(context.Background(), after, 0)
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	return evs
}

func TestEventsLifecycle(t *testing.T) {
	db := openTest(t, "", Options{})
	ctx := context.Background()
	id := enqueue(t, db, &Message{From: "a@x", User: "key:app", Recipients: rcpts("b@y", "c@z", "d@w"), MessageID: "<m1@x>",
		Tags: []string{"welcome"}, Metadata: map[string]string{"user": "42"}}, []byte("hi"))
	// One attempt: b delivered, c bounced 550 5.1.1, d deferred.
	next := t0.Add(time.Hour)
	err := db.Update(ctx, id, func(m *Message) error {
		at := func(r *Recipient, st State, code int, enh, text string) {
			r.Attempts++
			r.State = st
			r.History = append(r.History, Attempt{Time: t0, Host: "mx.y[192.0.2.1]:25", TLS: "TLS1.3 x verified",
				Code: code, Enhanced: enh, Reply: text, Result: st})
		}
		at(&m.Recipients[0], StateDelivered, 250, "2.0.0", "ok")
		at(&m.Recipients[1], StateBounced, 550, "5.1.1", "no such user")
		at(&m.Recipients[2], StateDeferred, 451, "4.3.0", "later")
		m.Recipients[2].NextAttempt = next
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Hold, release, warn, delete.
	for _, fn := range []func(m *Message) error{
		func(m *Message) error { m.Recipients[2].State = StateHeld; return nil },
		func(m *Message) error { m.Recipients[2].State = StateQueued; return nil },
		func(m *Message) error { m.Recipients[2].State = StateDeferred; return nil },
		func(m *Message) error { m.DelayWarned = true; return nil },
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
			len(e.Tags) != 1 || e.Metadata["user"] != "42" || !e.Time.Equal(t0) || e.User != "key:app" {
			t.Errorf("event %d: common fields wrong: %+v", i, e)
		}
	}
	if e := evs[4]; e.Class != ClassRemote5xx || e.Reply != (Reply{550, "5.1.1", "no such user"}) ||
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

// TestEventsCallerClass: a caller's description lends a derived event its
// class, and an event that matches no change is written as given.
func TestEventsCallerClass(t *testing.T) {
	db := openTest(t, "", Options{})
	ctx := context.Background()
	id := enqueue(t, db, &Message{From: "a@x", Recipients: rcpts("b@y", "c@y")}, []byte("hi"))
	err := db.Update(ctx, id, func(m *Message) error {
		m.Recipients[0].State = StateBounced
		m.Recipients[0].LastReply = "address suppressed"
		m.Events = append(m.Events,
			Event{Type: EventBounced, Recipient: "b@y", Class: ClassSuppressed},
			Event{Type: EventDelay, Recipient: "c@y"},
			Event{Type: EventDelay, Recipient: "c@y", Reply: Reply{Text: "again"}})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	evs := allEvents(t, db, 2)
	if got := eventTypes(evs); fmt.Sprint(got) != "[b@y bounced c@y delay_warning c@y delay_warning]" {
		t.Fatalf("events %v", got)
	}
	if evs[0].Class != ClassSuppressed || evs[0].Reply.Text != "address suppressed" || evs[1].QueueID != id {
		t.Errorf("events %+v", evs)
	}
	// Events is never persisted.
	m, err := db.Get(ctx, id)
	if err != nil || m.Events != nil {
		t.Fatalf("Get: %v, Events %v", err, m.Events)
	}
}

// TestEventsAtomic: no event without its outcome and no outcome without
// its event: a failing fn, a rolled-back batch and a failed commit write
// neither.
func TestEventsAtomic(t *testing.T) {
	var fail sync.Map
	db := openFailing(t, Options{}, func() error {
		if _, ok := fail.Load("on"); ok {
			return errors.New("injected")
		}
		return nil
	})
	ctx := context.Background()
	id := enqueue(t, db, &Message{From: "a@x", Recipients: rcpts("b@y")}, []byte("hi"))
	boom := errors.New("boom")
	err := db.Update(ctx, id, func(m *Message) error {
		m.Recipients[0].State = StateDelivered
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v", err)
	}
	fail.Store("on", true)
	err = db.Update(ctx, id, func(m *Message) error {
		m.Recipients[0].State = StateDelivered
		return nil
	})
	if err == nil {
		t.Fatal("Update with a failing commit succeeded")
	}
	fail.Delete("on")
	if evs := allEvents(t, db, 0); len(evs) != 1 || evs[0].Type != EventAccepted || db.LastEventSeq() != 1 {
		t.Fatalf("events after failed updates: %v (last %d)", eventTypes(evs), db.LastEventSeq())
	}
	m, _ := db.Get(ctx, id)
	if m.Recipients[0].State != StateQueued {
		t.Fatalf("state %v", m.Recipients[0].State)
	}
	// The next event takes the next number: nothing was consumed.
	if err := db.Update(ctx, id, func(m *Message) error { m.Recipients[0].State = StateDelivered; return nil }); err != nil {
		t.Fatal(err)
	}
	if evs := allEvents(t, db, 1); len(evs) != 1 || evs[0].Seq != 2 || evs[0].Type != EventDelivered {
		t.Fatalf("events: %+v", evs)
	}
}

// TestEventsSequenceAcrossReopenAndPrune: numbers keep increasing after a
// restart and after the newest events were pruned.
func TestEventsSequenceAcrossReopenAndPrune(t *testing.T) {
	dir := t.TempDir()
	now := t0
	clock := func() time.Time { return now }
	db := openTest(t, dir, Options{Now: clock})
	enqueue(t, db, &Message{From: "a@x", Recipients: rcpts("b@y", "c@y")}, []byte("1"))
	now = t0.Add(time.Hour)
	enqueue(t, db, &Message{From: "a@x", Recipients: rcpts("d@y")}, []byte("2"))
	n, err := db.PruneEvents(context.Background(), t0.Add(time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("PruneEvents = %d, %v; want 2", n, err)
	}
	if evs := allEvents(t, db, 0); len(evs) != 1 || evs[0].Seq != 3 {
		t.Fatalf("after prune: %+v", evs)
	}
	if n, _ := db.PruneEvents(context.Background(), now.Add(time.Hour)); n != 1 {
		t.Fatalf("second prune removed %d", n)
	}
	db.Close()
	db = openTest(t, dir, Options{Now: clock})
	if db.LastEventSeq() != 3 {
		t.Fatalf("LastEventSeq after reopen = %d, want 3", db.LastEventSeq())
	}
	enqueue(t, db, &Message{From: "a@x", Recipients: rcpts("e@y")}, []byte("3"))
	if evs := allEvents(t, db, 0); len(evs) != 1 || evs[0].Seq != 4 {
		t.Fatalf("after reopen: %+v", evs)
	}
}

func TestEventsAfterWakes(t *testing.T) {
	db := openTest(t, "", Options{})
	ch := db.EventsAfter(0)
	select {
	case <-ch:
		t.Fatal("channel closed with no event")
	default:
	}
	enqueue(t, db, &Message{From: "a@x", Recipients: rcpts("b@y")}, []byte("1"))
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

// TestEventJSON pins the public shape.
func TestEventJSON(t *testing.T) {
	e := Event{Seq: 7, Time: t0, Type: EventDeferred, QueueID: "Q1", MessageID: "<m@x>", From: "a@x", Recipient: "b@y",
		Reply: Reply{451, "4.7.1", "try later"}, RemoteHost: "mx[192.0.2.1]:25", TLS: "none", Attempt: 2,
		NextAttempt: t0.Add(time.Hour), Tags: []string{"t"}, Metadata: map[string]string{"k": "v"}}
	got, _ := json.Marshal(e)
	want := `{"seq":7,"time":"2025-03-01T12:00:00Z","type":"deferred","queue_id":"Q1","message_id":"\u003cm@x\u003e","from":"a@x","recipient":"b@y",` +
		`"reply":{"code":451,"enhanced":"4.7.1","text":"try later"},"remote_host":"mx[192.0.2.1]:25","tls":"none","attempt":2,` +
		`"next_attempt":"2025-03-01T13:00:00Z","tags":["t"],"metadata":{"k":"v"}}`
	if string(got) != want {
		t.Errorf("JSON\n got %s\nwant %s", got, want)
	}
	got, _ = json.Marshal(Event{Seq: 1, Time: t0, Type: EventAccepted, QueueID: "Q", Recipient: "b@y"})
	if want := `{"seq":1,"time":"2025-03-01T12:00:00Z","type":"accepted","queue_id":"Q","from":"","recipient":"b@y","attempt":0}`; string(got) != want {
		t.Errorf("JSON\n got %s\nwant %s", got, want)
	}
}

func TestBounceClass(t *testing.T) {
	for _, c := range []struct {
		code int
		enh  string
		want string
	}{
		{550, "5.1.1", ClassRemote5xx},
		{554, "", ClassRemote5xx},
		{0, "4.4.7", ClassExpired},
		{0, "5.1.2", ClassDNS},
		{0, "5.1.10", ClassDNS},
		{0, "5.4.4", ClassDNS},
		{0, "5.7.1", ClassPolicy},
		{0, "", ClassPolicy},
	} {
		if got := BounceClass(c.code, c.enh); got != c.want {
			t.Errorf("BounceClass(%d, %q) = %q, want %q", c.code, c.enh, got, c.want)
		}
	}
}

// BenchmarkEventsUpdate is the event log's CPU share of recording one
// outcome: deriving and encoding the events of a two-recipient attempt.
func BenchmarkEventsUpdate(b *testing.B) {
	before := &Message{ID: "Q", From: "a@x", MessageID: "<m@x>", Recipients: rcpts("b@y", "c@y"),
		Tags: []string{"t"}, Metadata: map[string]string{"k": "v"}}
	after := cloneForTest(before)
	for i := range after.Recipients {
		r := &after.Recipients[i]
		r.State, r.Attempts = StateDelivered, 1
		r.History = []Attempt{{Time: t0, Host: "mx[192.0.2.1]:25", TLS: "TLS1.3", Code: 250, Enhanced: "2.0.0", Reply: "ok", Result: StateDelivered}}
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, e := range changeEvents(before, after, t0) {
			if _, err := encodeEvent(&e); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func cloneForTest(m *Message) *Message {
	c := *m
	c.Recipients = append([]Recipient(nil), m.Recipients...)
	return &c
}

// TestEventsSurviveSalvage: a salvaged spool keeps the old events under
// their numbers and numbers new ones after them, never reusing one.
func TestEventsSurviveSalvage(t *testing.T) {
	ctx := context.Background()
	from := t.TempDir()
	db := openTest(t, from, Options{})
	id := enqueue(t, db, &Message{From: "a@x", Recipients: rcpts("b@y", "c@y")}, []byte("hi"))
	if err := db.Update(ctx, id, func(m *Message) error { m.Recipients[0].State = StateDelivered; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PruneEvents(ctx, t0.Add(time.Second)); err != nil { // numbers 1-3 gone, sequence 3
		t.Fatal(err)
	}
	enqueue(t, db, &Message{From: "a@x", Recipients: rcpts("d@y")}, []byte("2")) // event 4
	db.Close()
	to := filepath.Join(t.TempDir(), "new")
	r, err := Salvage(ctx, from, to, Options{Logger: quietLogger()})
	if err != nil || r.Events != 1 {
		t.Fatalf("Salvage: %v, %d events copied, want 1", err, r.Events)
	}
	db = openTest(t, to, Options{})
	evs := allEvents(t, db, 0)
	if len(evs) == 0 || evs[0].Seq != 4 || evs[0].Recipient != "d@y" {
		t.Fatalf("salvaged log starts %+v, want the old event 4", evs)
	}
	for i, e := range evs[1:] {
		if e.Seq != uint64(5+i) {
			t.Fatalf("new event %d numbered %d, want %d", i, e.Seq, 5+i)
		}
	}
	if db.LastEventSeq() != evs[len(evs)-1].Seq {
		t.Errorf("LastEventSeq %d, last event %d", db.LastEventSeq(), evs[len(evs)-1].Seq)
	}
}
