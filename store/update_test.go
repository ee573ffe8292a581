package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestUpdateAndBounceLog(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, "", Options{})
	id := enqueue(t, db, &Message{From: "app@example.org", Recipients: rcpts("a@x.test", "b@y.test")}, []byte("hi"))
	at := t0.Add(time.Minute)
	bounce := func(m *Message) error {
		r := &m.Recipients[1]
		r.State = StateBounced
		r.Attempts = 2
		r.LastReply = "550 5.1.1 no such user"
		r.History = append(r.History, Attempt{Time: at, Host: "mx.y.test[192.0.2.1]:25", Code: 550,
			Enhanced: "5.1.1", Reply: "no such user", Result: StateBounced})
		m.Recipients[0].State = StateDeferred
		m.Recipients[0].NextAttempt = t0.Add(time.Hour)
		return nil
	}
	if err := db.Update(ctx, id, bounce); err != nil {
		t.Fatal(err)
	}
	// A second update that leaves the bounced recipient bounced logs nothing new.
	if err := db.Update(ctx, id, func(m *Message) error { m.Recipients[0].Attempts++; return nil }); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Bounces(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := Bounce{Time: at, MsgID: id, From: "app@example.org", Rcpt: "b@y.test",
		Host: "mx.y.test[192.0.2.1]:25", Code: 550, Enhanced: "5.1.1", Diag: "no such user", Attempts: 2}
	if len(rows) != 1 {
		t.Fatalf("Bounces = %d rows, want 1: %+v", len(rows), rows)
	}
	rows[0].Time = rows[0].Time.UTC()
	if rows[0] != want {
		t.Errorf("bounce row = %+v\nwant %+v", rows[0], want)
	}
	if rows, _ := db.Bounces(ctx, at.Add(time.Nanosecond)); len(rows) != 0 {
		t.Errorf("Bounces(since after the row) = %v", rows)
	}
	m, _ := db.Get(ctx, id)
	if m.Recipients[0].Attempts != 1 || m.Recipients[1].State != StateBounced {
		t.Errorf("updated message = %+v", m.Recipients)
	}
	// fn's error aborts: nothing is written, the error is returned as is.
	boom := errors.New("boom")
	err = db.Update(ctx, id, func(m *Message) error { m.Recipients[0].State = StateDelivered; return boom })
	if err != boom {
		t.Errorf("Update with failing fn = %v, want boom", err)
	}
	if m, _ := db.Get(ctx, id); m.Recipients[0].State != StateDeferred {
		t.Errorf("failed Update wrote state %v", m.Recipients[0].State)
	}
	if err := db.Update(ctx, "nosuchid00000", func(*Message) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("Update of unknown ID: %v", err)
	}
}

func TestDueIndex(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, "", Options{})
	mk := func(next time.Duration, st State) string {
		r := rcpts("a@b")
		r[0].State = st
		r[0].NextAttempt = t0.Add(next)
		return enqueue(t, db, &Message{Recipients: r}, []byte("x"))
	}
	late := mk(30*time.Minute, StateDeferred)
	early := mk(-time.Minute, StateQueued)
	mid := mk(10*time.Minute, StateDeferred)
	held := mk(0, StateHeld)
	done := mk(0, StateDelivered)
	_, _ = held, done

	tests := []struct {
		name  string
		now   time.Time
		limit int
		skip  func(string) bool
		want  []string
	}{
		{"nothing yet", t0.Add(-time.Hour), 0, nil, nil},
		{"one", t0, 0, nil, []string{early}},
		{"ordered", t0.Add(time.Hour), 0, nil, []string{early, mid, late}},
		{"at exactly next", t0.Add(10 * time.Minute), 0, nil, []string{early, mid}},
		{"limit", t0.Add(time.Hour), 2, nil, []string{early, mid}},
		{"skip", t0.Add(time.Hour), 2, func(id string) bool { return id == early }, []string{mid, late}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.Due(ctx, tt.now, tt.limit, tt.skip)
			if err != nil {
				t.Fatal(err)
			}
			if !equalIDs(got, tt.want) {
				t.Errorf("Due = %v, want %v", got, tt.want)
			}
		})
	}
	if next, ok, _ := db.NextDue(ctx); !ok || !next.Equal(t0.Add(-time.Minute)) {
		t.Errorf("NextDue = %v, %v", next, ok)
	}
	// Move early past late; hold mid; release held.
	db.Update(ctx, early, func(m *Message) error { m.Recipients[0].NextAttempt = t0.Add(2 * time.Hour); return nil })
	db.Update(ctx, mid, func(m *Message) error { m.Recipients[0].State = StateHeld; return nil })
	db.Update(ctx, held, func(m *Message) error {
		m.Recipients[0].State = StateQueued
		m.Recipients[0].NextAttempt = t0.Add(time.Hour)
		return nil
	})
	got, _ := db.Due(ctx, t0.Add(3*time.Hour), 0, nil)
	if want := []string{late, held, early}; !equalIDs(got, want) {
		t.Errorf("Due after updates = %v, want %v", got, want)
	}
	if next, ok, _ := db.NextDue(ctx); !ok || !next.Equal(t0.Add(30*time.Minute)) {
		t.Errorf("NextDue = %v, %v", next, ok)
	}
	for _, id := range []string{late, held, early} {
		db.Update(ctx, id, func(m *Message) error { m.Recipients[0].State = StateDelivered; return nil })
	}
	if _, ok, _ := db.NextDue(ctx); ok {
		t.Error("NextDue reports work when every message is final or held")
	}
}

func equalIDs(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestListFiltersAndPaging(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, "", Options{})
	var all, pending, deferred, example []string
	for i := range 25 {
		r := rcpts("u@example.com")
		if i%2 == 1 {
			r = rcpts("u@other.org", "v@EXAMPLE.com")
		}
		switch i % 5 {
		case 3:
			r[0].State = StateDeferred
		case 4:
			for j := range r {
				r[j].State = StateDelivered
			}
		}
		id := enqueue(t, db, &Message{Recipients: r}, []byte("x"))
		all = append(all, id)
		if i%5 != 4 {
			pending = append(pending, id)
		}
		if i%5 == 3 {
			deferred = append(deferred, id)
		}
		if i%5 != 4 {
			example = append(example, id)
		}
	}
	page := func(f Filter) []string {
		t.Helper()
		var ids []string
		for {
			ms, err := db.List(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range ms {
				ids = append(ids, m.ID)
			}
			if len(ms) < f.Limit || f.Limit == 0 {
				return ids
			}
			f.After = ms[len(ms)-1].ID
		}
	}
	tests := []struct {
		name string
		f    Filter
		want []string
	}{
		{"all, pages of 10", Filter{Done: true, Limit: 10}, all},
		{"hide done, pages of 7", Filter{Limit: 7}, pending},
		{"deferred", Filter{State: StateDeferred, Limit: 3}, deferred},
		{"domain case-insensitive", Filter{Domain: "Example.COM"}, example},
		{"unknown domain", Filter{Domain: "nowhere.test", Done: true}, nil},
		{"delivered at other.org", Filter{State: StateDelivered, Domain: "other.org", Done: true}, []string{all[9], all[19]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := page(tt.f); !equalIDs(got, tt.want) {
				t.Errorf("List = %v\nwant %v", got, tt.want)
			}
		})
	}
	if ms, _ := db.List(ctx, Filter{Done: true, After: all[23]}); len(ms) != 1 || ms[0].ID != all[24] {
		t.Errorf("List after the last-but-one = %v", ms)
	}
}

func TestEnqueueFinalAndHeld(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, "", Options{})
	r := rcpts("a@b", "c@d")
	r[0].State, r[1].State = StateDelivered, StateHeld
	id := enqueue(t, db, &Message{Recipients: r}, []byte("dsn"))
	if ids, _ := db.Due(ctx, t0.Add(time.Hour), 0, nil); len(ids) != 0 {
		t.Errorf("held/final message is due: %v", ids)
	}
	if m, err := db.Get(ctx, id); err != nil || m.Recipients[1].State != StateHeld {
		t.Errorf("Get = %+v, %v", m, err)
	}
}

func TestPruneAndStats(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, "", Options{InlineMax: 8})
	old := rcpts("a@b")
	old[0].State = StateDelivered
	oldID := enqueue(t, db, &Message{Recipients: old, Received: t0.Add(-48 * time.Hour)}, pattern(100, 0))
	pendID := enqueue(t, db, &Message{Recipients: rcpts("a@b", "c@d"), Received: t0.Add(-72 * time.Hour)}, []byte("x"))
	newDone := rcpts("a@b")
	newDone[0].State = StateDelivered
	enqueue(t, db, &Message{Recipients: newDone}, []byte("x"))
	db.Update(ctx, pendID, func(m *Message) error {
		m.Recipients[1].State = StateBounced
		m.Recipients[1].History = []Attempt{{Time: t0.Add(-30 * time.Hour), Result: StateBounced}}
		return nil
	})
	s, err := db.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Messages != 3 || s.Pending != 1 || s.Recipients[StateDelivered] != 2 || s.Recipients[StateBounced] != 1 ||
		s.Recipients[StateQueued] != 1 || !s.OldestPending.Equal(t0.Add(-72*time.Hour)) || s.OldestPendingID != pendID ||
		s.Bounces != 1 || s.FileSize <= 0 {
		t.Errorf("Stats = %+v", s)
	}
	msgs, bounces, err := db.Prune(ctx, t0.Add(-24*time.Hour))
	if err != nil || msgs != 1 || bounces != 1 {
		t.Fatalf("Prune = %d, %d, %v; want 1, 1", msgs, bounces, err)
	}
	if _, err := db.Get(ctx, oldID); !errors.Is(err, ErrNotFound) {
		t.Errorf("pruned message still there: %v", err)
	}
	if _, err := db.Get(ctx, pendID); err != nil {
		t.Errorf("pending message pruned: %v", err)
	}
}
