package store

import (
	"context"
	"slices"
	"testing"
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
