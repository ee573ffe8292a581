package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"testing"
	"time"
)

// enqueueOnce stores a one-recipient message under key and returns the
// prior record (nil when this call stored).
func enqueueOnce(t *testing.T, db *DB, key, resp string, since time.Time) (*Idempotency, string) {
	t.Helper()
	b, err := db.NewBody()
	if err != nil {
		t.Fatal(err)
	}
	b.Write([]byte("Subject: x\r\n\r\nhi\r\n"))
	m := &Message{From: "a@example.com", Recipients: rcpts("b@example.org")}
	rec := &Idempotency{Key: key, Request: sha256.Sum256([]byte(resp)), Response: []byte(resp)}
	prior, err := db.EnqueueOnce(context.Background(), m, b, rec, since)
	if err != nil {
		t.Fatalf("EnqueueOnce: %v", err)
	}
	if prior != nil {
		if err := b.Discard(); err != nil {
			t.Fatalf("Discard after a prior record: %v", err)
		}
		return prior, ""
	}
	return nil, m.ID
}

func countMsgs(t *testing.T, db *DB) int {
	t.Helper()
	ms, err := db.List(context.Background(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

// TestEnqueueOnce: the first submission under a key stores the message
// and the record; a retry gets the record back and stores nothing, also
// after a restart; once the record is older than since, the key is free
// again; pruning removes old records only.
func TestEnqueueOnce(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir, Options{})
	if prior, id := enqueueOnce(t, db, "k1", "first", t0.Add(-time.Hour)); prior != nil || id == "" {
		t.Fatalf("first: prior %v id %q", prior, id)
	}
	prior, _ := enqueueOnce(t, db, "k1", "second", t0.Add(-time.Hour))
	if prior == nil || string(prior.Response) != "first" || prior.Request != sha256.Sum256([]byte("first")) || !prior.Created.Equal(t0) {
		t.Fatalf("retry: prior %+v, want the first record", prior)
	}
	if n := countMsgs(t, db); n != 1 {
		t.Fatalf("%d messages after a retry, want 1", n)
	}
	db.Close()
	db = openTest(t, dir, Options{})
	if prior, _ := enqueueOnce(t, db, "k1", "third", t0.Add(-time.Hour)); prior == nil || !bytes.Equal(prior.Response, []byte("first")) {
		t.Fatalf("retry after reopen: prior %+v", prior)
	}
	if prior, id := enqueueOnce(t, db, "k2", "other", t0.Add(-time.Hour)); prior != nil || id == "" {
		t.Fatalf("another key: prior %v", prior)
	}
	// Past the retention the key is free: a new message and record.
	if prior, id := enqueueOnce(t, db, "k1", "later", t0); prior != nil || id == "" {
		t.Fatalf("expired key: prior %+v", prior)
	}
	if n := countMsgs(t, db); n != 3 {
		t.Fatalf("%d messages, want 3", n)
	}
	if n, err := db.PruneIdempotency(context.Background(), t0); err != nil || n != 0 {
		t.Fatalf("PruneIdempotency(t0) = %d, %v; want 0 (all created at t0)", n, err)
	}
	if n, err := db.PruneIdempotency(context.Background(), t0.Add(time.Second)); err != nil || n != 2 {
		t.Fatalf("PruneIdempotency(t0+1s) = %d, %v; want 2", n, err)
	}
	if prior, id := enqueueOnce(t, db, "k2", "other", t0.Add(-time.Hour)); prior != nil || id == "" {
		t.Fatalf("pruned key: prior %+v", prior)
	}
}
