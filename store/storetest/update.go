package storetest

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// testUpdateAndBounceLog: Update writes fn's changes and logs a bounce
// row once per recipient that became Bounced; fn's error aborts it.
func testUpdateAndBounceLog(t *testing.T, opener Opener) {
	ctx := context.Background()
	db := open(opener, Options{})
	id := enqueue(t, db, &store.Message{From: "app@example.org", Recipients: rcpts("a@x.test", "b@y.test")}, []byte("hi"))
	at := T0.Add(time.Minute)
	bounce := func(m *store.Message) error {
		r := &m.Recipients[1]
		r.State = store.StateBounced
		r.Attempts = 2
		r.LastReply = "550 5.1.1 no such user"
		r.History = append(r.History, store.Attempt{Time: at, Host: "mx.y.test[192.0.2.1]:25", Code: 550,
			Enhanced: "5.1.1", Reply: "no such user", Result: store.StateBounced})
		m.Recipients[0].State = store.StateDeferred
		m.Recipients[0].NextAttempt = T0.Add(time.Hour)
		return nil
	}
	if err := db.Update(ctx, id, bounce); err != nil {
		t.Fatal(err)
	}
	// A second update that leaves the bounced recipient bounced logs nothing new.
	if err := db.Update(ctx, id, func(m *store.Message) error { m.Recipients[0].Attempts++; return nil }); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Bounces(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := store.Bounce{Time: at, MsgID: id, From: "app@example.org", Rcpt: "b@y.test",
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
	if m.Recipients[0].Attempts != 1 || m.Recipients[1].State != store.StateBounced {
		t.Errorf("updated message = %+v", m.Recipients)
	}
	boom := errors.New("boom")
	err = db.Update(ctx, id, func(m *store.Message) error { m.Recipients[0].State = store.StateDelivered; return boom })
	if err != boom {
		t.Errorf("Update with failing fn = %v, want boom itself", err)
	}
	if m, _ := db.Get(ctx, id); m.Recipients[0].State != store.StateDeferred {
		t.Errorf("failed Update wrote state %v", m.Recipients[0].State)
	}
	if err := db.Update(ctx, "nosuchid00000", func(*store.Message) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Update of unknown ID: %v", err)
	}
}

// testDueIndex: Due and NextDue follow the recipients' next attempts
// through Enqueue and Update; held and final messages are never due.
func testDueIndex(t *testing.T, opener Opener) {
	ctx := context.Background()
	db := open(opener, Options{})
	mk := func(next time.Duration, st store.State) string {
		r := rcpts("a@b")
		r[0].State = st
		r[0].NextAttempt = T0.Add(next)
		return enqueue(t, db, &store.Message{Recipients: r}, []byte("x"))
	}
	late := mk(30*time.Minute, store.StateDeferred)
	early := mk(-time.Minute, store.StateQueued)
	mid := mk(10*time.Minute, store.StateDeferred)
	held := mk(0, store.StateHeld)
	mk(0, store.StateDelivered)
	tests := []struct {
		name  string
		now   time.Time
		limit int
		skip  func(string) bool
		want  []string
	}{
		{"nothing yet", T0.Add(-time.Hour), 0, nil, nil},
		{"one", T0, 0, nil, []string{early}},
		{"ordered", T0.Add(time.Hour), 0, nil, []string{early, mid, late}},
		{"at exactly next", T0.Add(10 * time.Minute), 0, nil, []string{early, mid}},
		{"limit", T0.Add(time.Hour), 2, nil, []string{early, mid}},
		{"skip", T0.Add(time.Hour), 2, func(id string) bool { return id == early }, []string{mid, late}},
	}
	for _, tt := range tests {
		got, err := db.Due(ctx, tt.now, tt.limit, tt.skip)
		if err != nil {
			t.Fatal(err)
		}
		if !equalIDs(got, tt.want) {
			t.Errorf("%s: Due = %v, want %v", tt.name, got, tt.want)
		}
	}
	if next, ok, _ := db.NextDue(ctx); !ok || !next.Equal(T0.Add(-time.Minute)) {
		t.Errorf("NextDue = %v, %v", next, ok)
	}
	db.Update(ctx, early, func(m *store.Message) error { m.Recipients[0].NextAttempt = T0.Add(2 * time.Hour); return nil })
	db.Update(ctx, mid, func(m *store.Message) error { m.Recipients[0].State = store.StateHeld; return nil })
	db.Update(ctx, held, func(m *store.Message) error {
		m.Recipients[0].State = store.StateQueued
		m.Recipients[0].NextAttempt = T0.Add(time.Hour)
		return nil
	})
	got, _ := db.Due(ctx, T0.Add(3*time.Hour), 0, nil)
	if want := []string{late, held, early}; !equalIDs(got, want) {
		t.Errorf("Due after updates = %v, want %v", got, want)
	}
	if next, ok, _ := db.NextDue(ctx); !ok || !next.Equal(T0.Add(30*time.Minute)) {
		t.Errorf("NextDue = %v, %v", next, ok)
	}
	for _, id := range []string{late, held, early} {
		db.Update(ctx, id, func(m *store.Message) error { m.Recipients[0].State = store.StateDelivered; return nil })
	}
	if _, ok, _ := db.NextDue(ctx); ok {
		t.Error("NextDue reports work when every message is final or held")
	}
}

// testListFiltersAndPaging: List's filters and its cursor.
func testListFiltersAndPaging(t *testing.T, opener Opener) {
	ctx := context.Background()
	db := open(opener, Options{})
	var all, pending, deferred []string
	for i := range 25 {
		r := rcpts("u@example.com")
		if i%2 == 1 {
			r = rcpts("u@other.org", "v@EXAMPLE.com")
		}
		switch i % 5 {
		case 3:
			r[0].State = store.StateDeferred
		case 4:
			for j := range r {
				r[j].State = store.StateDelivered
			}
		}
		id := enqueue(t, db, &store.Message{Recipients: r}, []byte("x"))
		all = append(all, id)
		if i%5 != 4 {
			pending = append(pending, id)
		}
		if i%5 == 3 {
			deferred = append(deferred, id)
		}
	}
	page := func(f store.Filter) []string {
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
		f    store.Filter
		want []string
	}{
		{"all, pages of 10", store.Filter{Done: true, Limit: 10}, all},
		{"hide done, pages of 7", store.Filter{Limit: 7}, pending},
		{"deferred", store.Filter{State: store.StateDeferred, Limit: 3}, deferred},
		{"domain case-insensitive", store.Filter{Domain: "Example.COM"}, pending},
		{"unknown domain", store.Filter{Domain: "nowhere.test", Done: true}, nil},
		{"delivered at other.org", store.Filter{State: store.StateDelivered, Domain: "other.org", Done: true}, []string{all[9], all[19]}},
	}
	for _, tt := range tests {
		if got := page(tt.f); !equalIDs(got, tt.want) {
			t.Errorf("%s: List = %v\nwant %v", tt.name, got, tt.want)
		}
	}
	if ms, _ := db.List(ctx, store.Filter{Done: true, After: all[23]}); len(ms) != 1 || ms[0].ID != all[24] {
		t.Errorf("List after the last-but-one = %v", ms)
	}
}

func testEnqueueFinalAndHeld(t *testing.T, opener Opener) {
	ctx := context.Background()
	db := open(opener, Options{})
	r := rcpts("a@b", "c@d")
	r[0].State, r[1].State = store.StateDelivered, store.StateHeld
	id := enqueue(t, db, &store.Message{Recipients: r}, []byte("dsn"))
	if ids, _ := db.Due(ctx, T0.Add(time.Hour), 0, nil); len(ids) != 0 {
		t.Errorf("held/final message is due: %v", ids)
	}
	if m, err := db.Get(ctx, id); err != nil || m.Recipients[1].State != store.StateHeld {
		t.Errorf("Get = %+v, %v", m, err)
	}
}

// testPruneAndStats: Stats counts messages, recipients, the oldest
// pending one and bounce rows; pruning removes old finished messages and
// old bounce rows only.
func testPruneAndStats(t *testing.T, opener Opener) {
	ctx := context.Background()
	db := open(opener, Options{InlineMax: 8})
	old := rcpts("a@b")
	old[0].State = store.StateDelivered
	oldID := enqueue(t, db, &store.Message{Recipients: old, Received: T0.Add(-48 * time.Hour)}, pattern(100, 0))
	pendID := enqueue(t, db, &store.Message{Recipients: rcpts("a@b", "c@d"), Received: T0.Add(-72 * time.Hour)}, []byte("x"))
	newDone := rcpts("a@b")
	newDone[0].State = store.StateDelivered
	enqueue(t, db, &store.Message{Recipients: newDone}, []byte("x"))
	db.Update(ctx, pendID, func(m *store.Message) error {
		m.Recipients[1].State = store.StateBounced
		m.Recipients[1].History = []store.Attempt{{Time: T0.Add(-30 * time.Hour), Result: store.StateBounced}}
		return nil
	})
	s, err := db.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Messages != 3 || s.Pending != 1 || s.Recipients[store.StateDelivered] != 2 || s.Recipients[store.StateBounced] != 1 ||
		s.Recipients[store.StateQueued] != 1 || !s.OldestPending.Equal(T0.Add(-72*time.Hour)) || s.OldestPendingID != pendID ||
		s.Bounces != 1 || s.FileSize <= 0 {
		t.Errorf("Stats = %+v", s)
	}
	msgs, err := db.PruneMessages(ctx, T0.Add(-24*time.Hour))
	if err != nil || msgs != 1 {
		t.Fatalf("PruneMessages = %d, %v; want 1", msgs, err)
	}
	if n, err := db.PruneBounces(ctx, T0.Add(-24*time.Hour)); err != nil || n != 1 {
		t.Fatalf("PruneBounces = %d, %v; want 1", n, err)
	}
	if _, err := db.Get(ctx, oldID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("pruned message still there: %v", err)
	}
	if _, err := db.Get(ctx, pendID); err != nil {
		t.Errorf("pending message pruned: %v", err)
	}
	if s, _ := db.Stats(ctx); s.Messages != 2 || s.Bounces != 0 {
		t.Errorf("Stats after prune: %d messages, %d bounces; want 2, 0", s.Messages, s.Bounces)
	}
}

// testStatsDomains: Stats counts unfinished recipients by domain and
// state, held ones included, and leaves a held-only message out of
// Pending.
func testStatsDomains(t *testing.T, opener Opener) {
	ctx := context.Background()
	db := open(opener, Options{})
	r := rcpts("a@x.test", "b@x.test", "c@y.test")
	r[1].State = store.StateDeferred
	enqueue(t, db, &store.Message{Recipients: r}, []byte("x"))
	h := rcpts("d@y.test")
	h[0].State = store.StateHeld
	enqueue(t, db, &store.Message{Recipients: h}, []byte("x"))
	s, err := db.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]store.DomainCount{"x.test": {Queued: 1, Deferred: 1}, "y.test": {Queued: 1, Held: 1}}
	if s.Pending != 1 || s.Messages != 2 || len(s.Domains) != 2 || s.Domains["x.test"] != want["x.test"] || s.Domains["y.test"] != want["y.test"] {
		t.Errorf("Stats = %+v; want 1 pending of 2, domains %v", s, want)
	}
}

// testPendingNotices: the notices index follows DSNPending through
// Enqueue, Update and Delete, and survives a reopen.
func testPendingNotices(t *testing.T, opener Opener) {
	ctx := context.Background()
	db := open(opener, Options{})
	a := enqueue(t, db, &store.Message{From: "a@x.test", Recipients: rcpts("r@y.test")}, []byte("a\r\n"))
	b := enqueue(t, db, &store.Message{From: "b@x.test", Recipients: rcpts("r@y.test"), DSNPending: true}, []byte("b\r\n"))
	c := enqueue(t, db, &store.Message{From: "c@x.test", Recipients: rcpts("r@y.test")}, []byte("c\r\n"))
	check := func(stage string, want ...string) {
		t.Helper()
		got, err := db.PendingNotices(ctx)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: PendingNotices = %v, %v; want %v", stage, got, err, want)
		}
	}
	check("after enqueue", b)
	set := func(id string, v bool) {
		t.Helper()
		if err := db.Update(ctx, id, func(m *store.Message) error { m.DSNPending = v; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	set(a, true)
	set(b, false)
	set(c, true)
	check("after update", a, c)
	if err := db.Delete(ctx, c); err != nil {
		t.Fatal(err)
	}
	check("after delete", a)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open(opener, Options{})
	check("after reopen", a)
}

// testPruneFinished: PruneMessages finds messages that became final
// through Update, keeps later and pending ones, and skips deleted ones.
func testPruneFinished(t *testing.T, opener Opener) {
	ctx := context.Background()
	db := open(opener, Options{})
	old := enqueue(t, db, &store.Message{Recipients: rcpts("a@b"), Received: T0.Add(-48 * time.Hour)}, []byte("x"))
	pending := enqueue(t, db, &store.Message{Recipients: rcpts("a@b"), Received: T0.Add(-48 * time.Hour)}, []byte("x"))
	gone := enqueue(t, db, &store.Message{Recipients: rcpts("a@b"), Received: T0.Add(-48 * time.Hour)}, []byte("x"))
	recent := enqueue(t, db, &store.Message{Recipients: rcpts("a@b"), Received: T0}, []byte("x"))
	for _, id := range []string{old, gone, recent} {
		if err := db.Update(ctx, id, func(m *store.Message) error { m.Recipients[0].State = store.StateDelivered; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Delete(ctx, gone); err != nil {
		t.Fatal(err)
	}
	n, err := db.PruneMessages(ctx, T0.Add(-24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("PruneMessages = %d, %v; want 1", n, err)
	}
	for id, want := range map[string]bool{old: false, pending: true, recent: true} {
		if _, err := db.Get(ctx, id); (err == nil) != want {
			t.Errorf("%s: Get error %v, want present=%v", id, err, want)
		}
	}
	if n, err := db.PruneMessages(ctx, T0.Add(time.Hour)); err != nil || n != 1 {
		t.Errorf("second PruneMessages = %d, %v; want 1 (the recent one)", n, err)
	}
}

// testStatsEqualsRecount: after a mix of enqueues, updates and deletes,
// Stats equals the counts store.Stats.Add makes from every record.
func testStatsEqualsRecount(t *testing.T, opener Opener) {
	ctx := context.Background()
	db := open(opener, Options{})
	states := []store.State{store.StateQueued, store.StateDeferred, store.StateDelivered, store.StateBounced, store.StateHeld}
	var ids []string
	for i := range 40 {
		r := rcpts("a@x.test", "b@Y.test", "c@z.test")
		for j := range r {
			r[j].State = states[(i+j)%len(states)]
		}
		ids = append(ids, enqueue(t, db, &store.Message{From: "s@src.test", Recipients: r,
			Received: T0.Add(time.Duration(i) * time.Minute)}, []byte("x")))
	}
	for i, id := range ids {
		switch i % 4 {
		case 0:
			db.Update(ctx, id, func(m *store.Message) error { m.Recipients[0].State = store.StateDelivered; return nil })
		case 1:
			db.Update(ctx, id, func(m *store.Message) error { m.Recipients[2].State = store.StateHeld; return nil })
		case 2:
			db.Delete(ctx, id)
		}
	}
	got, err := db.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var want store.Stats
	ms, err := db.List(ctx, store.Filter{Done: true, Limit: store.MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		want.Add(m)
	}
	want.Bounces, want.FileSize, want.FreeBytes = got.Bounces, got.FileSize, got.FreeBytes
	if got.Messages != want.Messages || got.Pending != want.Pending || got.OldestPendingID != want.OldestPendingID ||
		!got.OldestPending.Equal(want.OldestPending) || !reflect.DeepEqual(got.Recipients, want.Recipients) ||
		!reflect.DeepEqual(got.Domains, want.Domains) {
		t.Errorf("Stats = %+v\nrecount %+v", got, want)
	}
}
