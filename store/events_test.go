package store

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
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

// TestEventsAtomic: no event without its outcome and no outcome without
// its event: a failed commit writes neither (the suite's EventsAtomic has
// the failing fn).
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
	fail.Store("on", true)
	err := db.Update(ctx, id, func(m *Message) error {
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
		for _, e := range DeriveEvents(before, after, t0) {
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

// TestEventCarriesTLSOutcome: a delivered event names what verified the
// server, the policy applied and, for a deferral, the policy's failure,
// from the attempt the change appended.
func TestEventCarriesTLSOutcome(t *testing.T) {
	before := &Message{ID: "Q", Recipients: []Recipient{{Addr: "a@y", State: StateQueued}, {Addr: "b@z", State: StateQueued}}}
	after := &Message{ID: "Q", Recipients: []Recipient{
		{Addr: "a@y", State: StateDelivered, Attempts: 1, History: []Attempt{{Time: t0, Host: "mx.y", Code: 250, Result: StateDelivered,
			TLS: "TLS1.3 TLS_AES_128_GCM_SHA256 verified", TLSInfo: AttemptTLS{VerifiedBy: "dane", Policy: "dane y"}}}},
		{Addr: "b@z", State: StateDeferred, Attempts: 1, NextAttempt: t0.Add(time.Hour), History: []Attempt{{Time: t0, Host: "mx.z",
			Result: StateDeferred, TLSInfo: AttemptTLS{VerifiedBy: "none", Policy: "mta-sts enforce z", Failure: "validation-failure: mx.z"}}}},
	}}
	evs := DeriveEvents(before, after, t0)
	if len(evs) != 2 {
		t.Fatalf("events: %+v", evs)
	}
	if e := evs[0]; e.Type != EventDelivered || e.TLSVerifiedBy != "dane" || e.TLSPolicy != "dane y" || e.TLSFailure != "" {
		t.Errorf("delivered event: %+v", e)
	}
	if e := evs[1]; e.Type != EventDeferred || e.TLSVerifiedBy != "none" || e.TLSPolicy != "mta-sts enforce z" || e.TLSFailure != "validation-failure: mx.z" {
		t.Errorf("deferred event: %+v", e)
	}
	got, _ := json.Marshal(evs[0])
	if !strings.Contains(string(got), `"tls_verified_by":"dane","tls_policy":"dane y"`) {
		t.Errorf("JSON %s", got)
	}
}
