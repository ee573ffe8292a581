package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// testDueLanes: each lane has its own due index, so DueLane finds a lane's
// due mail however many earlier entries another lane holds; Due and
// NextDue still see every lane, earliest first; an Update that changes a
// message's priority moves its entry; Delete removes it.
func testDueLanes(t *testing.T, opener Opener) {
	ctx := context.Background()
	db := open(opener, Options{})
	mk := func(p store.Priority, next time.Duration) string {
		r := rcpts("a@b")
		r[0].NextAttempt = T0.Add(next)
		return enqueue(t, db, &store.Message{Recipients: r, Priority: p}, []byte("x"))
	}
	bulk1 := mk(store.PriorityBulk, -2*time.Hour)
	bulk2 := mk(store.PriorityBulk, -time.Hour)
	normal := mk(store.PriorityNormal, -30*time.Minute)
	high := mk(store.PriorityHigh, 0)
	later := mk(store.PriorityHigh, time.Hour)

	for _, tt := range []struct {
		lane store.Priority
		want []string
	}{
		{store.PriorityHigh, []string{high}},
		{store.PriorityNormal, []string{normal}},
		{store.PriorityBulk, []string{bulk1, bulk2}},
	} {
		got, err := db.DueLane(ctx, tt.lane, T0, 0, nil)
		if err != nil || !equalIDs(got, tt.want) {
			t.Errorf("DueLane(%v) = %v, %v; want %v", tt.lane, got, err, tt.want)
		}
	}
	if got, _ := db.DueLane(ctx, store.PriorityHigh, T0, 1, func(id string) bool { return id == high }); len(got) != 0 {
		t.Errorf("DueLane with the only due one skipped = %v", got)
	}
	got, _ := db.Due(ctx, T0.Add(2*time.Hour), 0, nil)
	if want := []string{bulk1, bulk2, normal, high, later}; !equalIDs(got, want) {
		t.Errorf("Due across lanes = %v, want %v", got, want)
	}
	got, _ = db.Due(ctx, T0, 2, func(id string) bool { return id == bulk1 })
	if want := []string{bulk2, normal}; !equalIDs(got, want) {
		t.Errorf("Due with limit and skip = %v, want %v", got, want)
	}
	if next, ok, _ := db.NextDue(ctx); !ok || !next.Equal(T0.Add(-2*time.Hour)) {
		t.Errorf("NextDue = %v, %v", next, ok)
	}

	if err := db.Update(ctx, bulk2, func(m *store.Message) error { m.Priority = store.PriorityHigh; return nil }); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.DueLane(ctx, store.PriorityHigh, T0, 0, nil); !equalIDs(got, []string{bulk2, high}) {
		t.Errorf("high lane after a priority change = %v", got)
	}
	if got, _ := db.DueLane(ctx, store.PriorityBulk, T0, 0, nil); !equalIDs(got, []string{bulk1}) {
		t.Errorf("bulk lane after a priority change = %v", got)
	}
	if err := db.Delete(ctx, bulk1); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.DueLane(ctx, store.PriorityBulk, T0, 0, nil); len(got) != 0 {
		t.Errorf("bulk lane after Delete = %v", got)
	}
}
