package store

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestPendingNotices: the notices index follows DSNPending through Enqueue,
// Update and Delete, and survives a reopen.
func TestPendingNotices(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openTest(t, dir, Options{})
	a := enqueue(t, db, &Message{From: "a@x.test", Recipients: rcpts("r@y.test")}, []byte("a\r\n"))
	b := enqueue(t, db, &Message{From: "b@x.test", Recipients: rcpts("r@y.test"), DSNPending: true}, []byte("b\r\n"))
	c := enqueue(t, db, &Message{From: "c@x.test", Recipients: rcpts("r@y.test")}, []byte("c\r\n"))
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
		if err := db.Update(ctx, id, func(m *Message) error { m.DSNPending = v; return nil }); err != nil {
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
	db = openTest(t, dir, Options{})
	check("after reopen", a)
}

// TestPruneFinishedIndex: Prune finds messages that became final through
// Update, keeps those received later and those still pending, and a
// deleted message leaves no index entry behind.
func TestPruneFinishedIndex(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, "", Options{})
	old := enqueue(t, db, &Message{Recipients: rcpts("a@b"), Received: t0.Add(-48 * time.Hour)}, []byte("x"))
	pending := enqueue(t, db, &Message{Recipients: rcpts("a@b"), Received: t0.Add(-48 * time.Hour)}, []byte("x"))
	gone := enqueue(t, db, &Message{Recipients: rcpts("a@b"), Received: t0.Add(-48 * time.Hour)}, []byte("x"))
	recent := enqueue(t, db, &Message{Recipients: rcpts("a@b"), Received: t0}, []byte("x"))
	for _, id := range []string{old, gone, recent} {
		if err := db.Update(ctx, id, func(m *Message) error { m.Recipients[0].State = StateDelivered; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Delete(ctx, gone); err != nil {
		t.Fatal(err)
	}
	n, err := db.PruneMessages(ctx, t0.Add(-24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("PruneMessages = %d, %v; want 1", n, err)
	}
	for id, want := range map[string]bool{old: false, pending: true, recent: true} {
		if _, err := db.Get(ctx, id); (err == nil) != want {
			t.Errorf("%s: Get error %v, want present=%v", id, err, want)
		}
	}
	if n, err := db.PruneMessages(ctx, t0.Add(time.Hour)); err != nil || n != 1 {
		t.Errorf("second PruneMessages = %d, %v; want 1 (the recent one)", n, err)
	}
}
