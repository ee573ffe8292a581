package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"sync"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// enqueueOnce stores a one-recipient message under key and returns the
// prior record (nil when this call stored) and the new message's ID.
func enqueueOnce(t *testing.T, db Spool, key, resp string, since time.Time) (*store.Idempotency, string) {
	t.Helper()
	prior, id, err := tryEnqueueOnce(db, key, resp, since)
	if err != nil {
		t.Fatalf("EnqueueOnce: %v", err)
	}
	return prior, id
}

func tryEnqueueOnce(db Spool, key, resp string, since time.Time) (*store.Idempotency, string, error) {
	b, err := db.NewBody()
	if err != nil {
		return nil, "", err
	}
	b.Write([]byte("Subject: x\r\n\r\nhi\r\n"))
	m := &store.Message{From: "a@example.com", Recipients: rcpts("b@example.org")}
	rec := &store.Idempotency{Key: key, Request: sha256.Sum256([]byte(resp)), Response: []byte(resp)}
	prior, err := db.EnqueueOnce(context.Background(), m, b, rec, since)
	if err != nil || prior != nil {
		b.Discard()
		return prior, "", err
	}
	return nil, m.ID, nil
}

func countMsgs(t *testing.T, db Spool) int {
	t.Helper()
	ms, err := db.List(context.Background(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

// testEnqueueOnce: the first submission under a key stores the message
// and the record; a retry gets the record back and stores nothing, also
// after a reopen; once the record is older than since, the key is free
// again; pruning removes old records only.
func testEnqueueOnce(t *testing.T, opener Opener) {
	db := open(opener, Options{})
	if prior, id := enqueueOnce(t, db, "k1", "first", T0.Add(-time.Hour)); prior != nil || id == "" {
		t.Fatalf("first: prior %v id %q", prior, id)
	}
	prior, _ := enqueueOnce(t, db, "k1", "second", T0.Add(-time.Hour))
	if prior == nil || string(prior.Response) != "first" || prior.Request != sha256.Sum256([]byte("first")) || !prior.Created.Equal(T0) {
		t.Fatalf("retry: prior %+v, want the first record", prior)
	}
	if n := countMsgs(t, db); n != 1 {
		t.Fatalf("%d messages after a retry, want 1", n)
	}
	db.Close()
	db = open(opener, Options{})
	if prior, _ := enqueueOnce(t, db, "k1", "third", T0.Add(-time.Hour)); prior == nil || !bytes.Equal(prior.Response, []byte("first")) {
		t.Fatalf("retry after reopen: prior %+v", prior)
	}
	if prior, id := enqueueOnce(t, db, "k2", "other", T0.Add(-time.Hour)); prior != nil || id == "" {
		t.Fatalf("another key: prior %v", prior)
	}
	if prior, id := enqueueOnce(t, db, "k1", "later", T0); prior != nil || id == "" {
		t.Fatalf("expired key: prior %+v", prior)
	}
	if n := countMsgs(t, db); n != 3 {
		t.Fatalf("%d messages, want 3", n)
	}
	if n, err := db.PruneIdempotency(context.Background(), T0); err != nil || n != 0 {
		t.Fatalf("PruneIdempotency(T0) = %d, %v; want 0 (all created at T0)", n, err)
	}
	if n, err := db.PruneIdempotency(context.Background(), T0.Add(time.Second)); err != nil || n != 2 {
		t.Fatalf("PruneIdempotency(T0+1s) = %d, %v; want 2", n, err)
	}
	if prior, id := enqueueOnce(t, db, "k2", "other", T0.Add(-time.Hour)); prior != nil || id == "" {
		t.Fatalf("pruned key: prior %+v", prior)
	}
}

// testEnqueueOnceConcurrent: submissions racing with one key store one
// message; every other gets the first's record.
func testEnqueueOnceConcurrent(t *testing.T, opener Opener) {
	db := open(opener, Options{})
	const n = 8
	var wg sync.WaitGroup
	stored := make(chan string, n)
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			prior, id, err := tryEnqueueOnce(db, "race", "r", T0.Add(-time.Hour))
			switch {
			case err != nil:
				errs <- err
			case prior == nil:
				stored <- id
			}
		}()
	}
	wg.Wait()
	close(stored)
	close(errs)
	for err := range errs {
		t.Errorf("EnqueueOnce: %v", err)
	}
	if len(stored) != 1 || countMsgs(t, db) != 1 {
		t.Errorf("%d racing submissions stored %d messages (%d in the spool), want 1", n, len(stored), countMsgs(t, db))
	}
}

// testConcurrentUpdates: concurrent Updates of one message apply one
// after the other, none lost.
func testConcurrentUpdates(t *testing.T, opener Opener) {
	ctx := context.Background()
	db := open(opener, Options{})
	id := enqueue(t, db, &store.Message{Recipients: rcpts("a@b")}, []byte("x"))
	const n = 20
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := db.Update(ctx, id, func(m *store.Message) error { m.Recipients[0].Attempts++; return nil }); err != nil {
				t.Errorf("Update: %v", err)
			}
		}()
	}
	wg.Wait()
	if m, err := db.Get(ctx, id); err != nil || m.Recipients[0].Attempts != n {
		t.Errorf("after %d concurrent increments: %+v, %v", n, m, err)
	}
}
