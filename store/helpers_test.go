package store

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// t0 is the fake "now" of most tests.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// openFailing opens a spool in a temporary directory whose commits first
// call fail: a non-nil error fails that batch before anything is written.
// The first commit follows Open's return, so setting the seam here is
// ordered before any read of it by the committer.
func openFailing(t testing.TB, opts Options, fail func() error) *DB {
	t.Helper()
	db := openTest(t, "", opts)
	db.failCommit = fail
	return db
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func openTest(t testing.TB, dir string, opts Options) *DB {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return t0 }
	}
	db, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func rcpts(addrs ...string) []Recipient {
	rs := make([]Recipient, len(addrs))
	for i, a := range addrs {
		rs[i] = Recipient{Addr: a, State: StateQueued}
	}
	return rs
}

// enqueue stores a message with the given body and returns its ID.
func enqueue(t testing.TB, db *DB, m *Message, body []byte) string {
	t.Helper()
	b, err := db.NewBody()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := db.Enqueue(context.Background(), m, b); err != nil {
		b.Discard()
		t.Fatalf("Enqueue: %v", err)
	}
	return m.ID
}

func readBody(t testing.TB, db *DB, id string) []byte {
	t.Helper()
	rc, err := db.OpenBody(context.Background(), id)
	if err != nil {
		t.Fatalf("OpenBody(%s): %v", id, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// pattern is a deterministic body of n bytes.
func pattern(n int, seed byte) []byte {
	line := []byte(strings.Repeat(string(rune('a'+seed%26)), 77) + "\r\n")
	return bytes.Repeat(line, n/len(line)+1)[:n]
}
