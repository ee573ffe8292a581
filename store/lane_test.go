package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

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
