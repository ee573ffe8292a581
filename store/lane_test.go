package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestDueLanes: each lane has its own due index, so DueLane finds a lane's
// due mail however many earlier entries another lane holds; Due and
// NextDue still see every lane, earliest first; an Update that changes a
// message's priority moves its entry; Delete removes it.
func TestDueLanes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openTest(t, dir, Options{})
	mk := func(p Priority, next time.Duration) string {
		r := rcpts("a@b")
		r[0].NextAttempt = t0.Add(next)
		return enqueue(t, db, &Message{Recipients: r, Priority: p}, []byte("x"))
	}
	bulk1 := mk(PriorityBulk, -2*time.Hour)
	bulk2 := mk(PriorityBulk, -time.Hour)
	normal := mk(PriorityNormal, -30*time.Minute)
	high := mk(PriorityHigh, 0)
	later := mk(PriorityHigh, time.Hour)

	for _, tt := range []struct {
		lane Priority
		want []string
	}{
		{PriorityHigh, []string{high}},
		{PriorityNormal, []string{normal}},
		{PriorityBulk, []string{bulk1, bulk2}},
	} {
		got, err := db.DueLane(ctx, tt.lane, t0, 0, nil)
		if err != nil || !equalIDs(got, tt.want) {
			t.Errorf("DueLane(%v) = %v, %v; want %v", tt.lane, got, err, tt.want)
		}
	}
	if got, _ := db.DueLane(ctx, PriorityHigh, t0, 1, func(id string) bool { return id == high }); len(got) != 0 {
		t.Errorf("DueLane with the only due one skipped = %v", got)
	}
	got, _ := db.Due(ctx, t0.Add(2*time.Hour), 0, nil)
	if want := []string{bulk1, bulk2, normal, high, later}; !equalIDs(got, want) {
		t.Errorf("Due across lanes = %v, want %v", got, want)
	}
	got, _ = db.Due(ctx, t0, 2, func(id string) bool { return id == bulk1 })
	if want := []string{bulk2, normal}; !equalIDs(got, want) {
		t.Errorf("Due with limit and skip = %v, want %v", got, want)
	}
	if next, ok, _ := db.NextDue(ctx); !ok || !next.Equal(t0.Add(-2*time.Hour)) {
		t.Errorf("NextDue = %v, %v", next, ok)
	}

	if err := db.Update(ctx, bulk2, func(m *Message) error { m.Priority = PriorityHigh; return nil }); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.DueLane(ctx, PriorityHigh, t0, 0, nil); !equalIDs(got, []string{bulk2, high}) {
		t.Errorf("high lane after a priority change = %v", got)
	}
	if got, _ := db.DueLane(ctx, PriorityBulk, t0, 0, nil); !equalIDs(got, []string{bulk1}) {
		t.Errorf("bulk lane after a priority change = %v", got)
	}
	if err := db.Delete(ctx, bulk1); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.DueLane(ctx, PriorityBulk, t0, 0, nil); len(got) != 0 {
		t.Errorf("bulk lane after Delete = %v", got)
	}
	db.Close()
	r, err := Check(dir, time.Second)
	if err != nil || !r.Clean() {
		t.Fatalf("Check: %v %v", err, r.Problems)
	}
}

// TestOldSpoolIsNormalLane: a spool written before lanes (no due.high or
// due.bulk bucket, its records without a priority) opens with every
// pending message in the normal lane, delivered as before.
func TestOldSpoolIsNormalLane(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openTest(t, dir, Options{})
	r := rcpts("a@b")
	r[0].NextAttempt = t0
	id := enqueue(t, db, &Message{Recipients: r}, []byte("x"))
	db.Close()
	// Make it the spool an older build wrote: no lane buckets.
	bdb, err := bolt.Open(filepath.Join(dir, "spool.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		return errors.Join(tx.DeleteBucket([]byte(bucketDueHigh)), tx.DeleteBucket([]byte(bucketDueBulk)))
	})
	bdb.Close()
	if err != nil {
		t.Fatal(err)
	}
	if r, err := Check(dir, time.Second); err != nil || !r.Clean() {
		t.Fatalf("Check of a spool without lanes: %v %v", err, r.Problems)
	}
	db = openTest(t, dir, Options{})
	m, err := db.Get(ctx, id)
	if err != nil || m.Priority != PriorityNormal {
		t.Fatalf("old record: priority %v, %v", m.Priority, err)
	}
	if got, _ := db.DueLane(ctx, PriorityNormal, t0, 0, nil); !equalIDs(got, []string{id}) {
		t.Errorf("normal lane of an old spool = %v, want [%s]", got, id)
	}
	if got, _ := db.Due(ctx, t0, 0, nil); !equalIDs(got, []string{id}) {
		t.Errorf("Due of an old spool = %v", got)
	}
}

func TestPriorityNames(t *testing.T) {
	for _, p := range Lanes {
		if got, ok := ParsePriority(p.String()); !ok || got != p {
			t.Errorf("ParsePriority(%q) = %v, %v", p.String(), got, ok)
		}
	}
	if _, ok := ParsePriority("urgent"); ok {
		t.Error("ParsePriority took an unknown name")
	}
	bad := EncodeMessage(&Message{Priority: PriorityBulk, Recipients: rcpts("a@b")})
	bad[len(bad)-1] = 7
	if _, err := DecodeMessage(bad); !errors.Is(err, ErrCorrupt) {
		t.Errorf("unknown priority decodes: %v", err)
	}
}
