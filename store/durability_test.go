package store

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// writeRaw puts value under key in bucket with bbolt directly, as a disk
// error or a bug would.
func writeRaw(t *testing.T, dir, bucketName, key string, value []byte) {
	t.Helper()
	bdb, err := bolt.Open(filepath.Join(dir, "spool.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	err = bdb.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(bucketName)).Put([]byte(key), value)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCorruptRecordQuarantined(t *testing.T) {
	ctx := context.Background()
	garbage := []byte{0x01, 0xff, 0xff, 0xff}
	tests := []struct {
		name string
		meet func(db *DB, id string) error // first access to the corrupt record
	}{
		{"Get", func(db *DB, id string) error { _, err := db.Get(ctx, id); return err }},
		{"Update", func(db *DB, id string) error {
			return db.Update(ctx, id, func(*Message) error { t.Error("fn called on a corrupt record"); return nil })
		}},
		{"List", func(db *DB, id string) error { _, err := db.List(ctx, Filter{}); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			db := openTest(t, dir, Options{})
			bad := enqueue(t, db, &Message{Recipients: rcpts("a@b")}, []byte("bad"))
			good := enqueue(t, db, &Message{Recipients: rcpts("a@b")}, []byte("good"))
			db.Close()
			writeRaw(t, dir, bucketMsgs, bad, garbage)
			db = openTest(t, dir, Options{})

			if ids, _ := db.Due(ctx, t0, 0, nil); len(ids) != 2 {
				t.Fatalf("before meeting it, Due = %v; want both", ids)
			}
			err := tt.meet(db, bad)
			if tt.name == "Get" || tt.name == "Update" {
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("error = %v, want ErrCorrupt", err)
				}
			} else if err != nil {
				t.Errorf("error = %v, want the corrupt record skipped", err)
			}
			q, err := db.Quarantined(ctx)
			if err != nil || len(q) != 1 || q[0].ID != bad || string(q[0].Raw) != string(garbage) || q[0].Reason == "" {
				t.Fatalf("Quarantined = %+v, %v", q, err)
			}
			if ids, _ := db.Due(ctx, t0, 0, nil); !equalIDs(ids, []string{good}) {
				t.Errorf("Due after quarantine = %v, want only %s", ids, good)
			}
			if ms, _ := db.List(ctx, Filter{}); len(ms) != 1 || ms[0].ID != good {
				t.Errorf("List after quarantine = %v", ms)
			}
			if _, err := db.Get(ctx, bad); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Get of quarantined = %v, want ErrCorrupt", err)
			}
			if body := readBody(t, db, bad); string(body) != "bad" {
				t.Errorf("quarantined body = %q", body)
			}
			if err := db.Delete(ctx, bad); err != nil {
				t.Errorf("Delete of quarantined: %v", err)
			}
			if q, _ := db.Quarantined(ctx); len(q) != 0 {
				t.Errorf("Quarantined after Delete = %v", q)
			}
		})
	}
}

func TestLockTimeout(t *testing.T) {
	dir := t.TempDir()
	openTest(t, dir, Options{})
	start := time.Now()
	db2, err := Open(dir, Options{LockTimeout: 100 * time.Millisecond, Logger: quietLogger()})
	if err == nil {
		db2.Close()
		t.Fatal("second Open of the same spool succeeded")
	}
	if !errors.Is(err, ErrLocked) {
		t.Errorf("second Open: %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("second Open took %v", d)
	}
}

func TestOrphanSweep(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir, Options{InlineMax: 8})
	kept := enqueue(t, db, &Message{Recipients: rcpts("a@b")}, pattern(100, 1))
	inline := enqueue(t, db, &Message{Recipients: rcpts("a@b")}, []byte("tiny"))
	abandoned, _ := db.NewBody()
	abandoned.Write(pattern(100, 2))
	abandoned.sync() // as if the process died between the body fsync and the commit
	db.Close()
	junk := []string{abandoned.ID(), "0000000000000", inline, "leftover.tmp"}
	for _, name := range junk[1:] {
		if err := os.WriteFile(filepath.Join(dir, "bodies", name), []byte("junk"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	db = openTest(t, dir, Options{})
	for _, name := range junk {
		if _, err := os.Stat(filepath.Join(dir, "bodies", name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("orphan %s not swept: %v", name, err)
		}
	}
	if string(readBody(t, db, kept)) != string(pattern(100, 1)) {
		t.Error("file body of a live message lost")
	}
	if string(readBody(t, db, inline)) != "tiny" {
		t.Error("inline body lost")
	}
}

// TestNoSpace: a commit that fails with ENOSPC reports ErrNoSpace, stores
// nothing, damages nothing, and the next commit succeeds.
func TestNoSpace(t *testing.T) {
	ctx := context.Background()
	var full atomic.Bool
	db := openFailing(t, Options{InlineMax: 8}, func() error {
		if full.Load() {
			return &os.PathError{Op: "write", Path: "spool.db", Err: syscall.ENOSPC}
		}
		return nil
	})
	before := enqueue(t, db, &Message{Recipients: rcpts("a@b")}, pattern(100, 1))
	full.Store(true)
	for _, size := range []int{4, 100} { // inline and file body
		b, _ := db.NewBody()
		b.Write(pattern(size, 3))
		m := &Message{Recipients: rcpts("a@b")}
		err := db.Enqueue(ctx, m, b)
		if !errors.Is(err, ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Enqueue on a full disk: %v; want ErrNoSpace and ENOSPC", err)
		}
		if _, err := db.Get(ctx, b.ID()); !errors.Is(err, ErrNotFound) {
			t.Errorf("failed Enqueue left a record: %v", err)
		}
		full.Store(false)
		if err := db.Enqueue(ctx, m, b); err != nil { // same body, retried after space is freed
			t.Fatalf("Enqueue after space freed: %v", err)
		}
		if string(readBody(t, db, m.ID)) != string(pattern(size, 3)) {
			t.Error("retried body differs")
		}
		full.Store(true)
	}
	err := db.Update(ctx, before, func(m *Message) error { m.Recipients[0].State = StateDelivered; return nil })
	if !errors.Is(err, ErrNoSpace) {
		t.Errorf("Update on a full disk: %v", err)
	}
	full.Store(false)
	if m, err := db.Get(ctx, before); err != nil || m.Recipients[0].State != StateQueued {
		t.Errorf("earlier message after failed commits = %+v, %v", m, err)
	}
}

// TestFailNthCommit is the seam the listener's tests use: the Nth commit
// fails and only that batch is lost.
func TestFailNthCommit(t *testing.T) {
	var n atomic.Int32
	db := openFailing(t, Options{}, func() error {
		if n.Add(1) == 2 {
			return errors.New("injected")
		}
		return nil
	})
	ctx := context.Background()
	var errs []error
	for range 3 {
		b, _ := db.NewBody()
		b.Write([]byte("x"))
		errs = append(errs, db.Enqueue(ctx, &Message{Recipients: rcpts("a@b")}, b))
	}
	if errs[0] != nil || errs[1] == nil || errs[2] != nil {
		t.Errorf("Enqueue errors = %v; want only the second to fail", errs)
	}
	if ms, _ := db.List(ctx, Filter{}); len(ms) != 2 {
		t.Errorf("stored %d messages, want 2", len(ms))
	}
}

// TestGroupCommit: concurrent requests share commits, and one failing or
// panicking request does not fail the others in its batch.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	gate := make(chan struct{})
	var commits atomic.Int32
	db := openFailing(t, Options{}, func() error {
		if commits.Add(1) == 1 {
			<-gate // hold the first batch so the rest pile up behind it
		}
		return nil
	})
	first := make(chan error, 1)
	b0, _ := db.NewBody()
	go func() { first <- db.Enqueue(ctx, &Message{Recipients: rcpts("a@b")}, b0) }()
	waitFor(t, func() bool { return commits.Load() == 1 })

	const writers = 20
	var wg sync.WaitGroup
	results := make([]error, writers)
	queued := atomic.Int32{}
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			queued.Add(1)
			switch i {
			case 3:
				results[i] = db.Update(ctx, "nosuchid00000", func(*Message) error { return nil })
			case 5:
				results[i] = db.Update(ctx, "nosuchid00000", func(*Message) error { panic("boom") })
			default:
				b, _ := db.NewBody()
				b.Write([]byte("x"))
				results[i] = db.Enqueue(ctx, &Message{Recipients: rcpts("a@b")}, b)
			}
		}()
	}
	waitFor(t, func() bool { return queued.Load() == writers && len(db.reqs) >= writers })
	close(gate)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for i, err := range results {
		if (i == 3 || i == 5) != (err != nil) {
			t.Errorf("request %d: %v", i, err)
		}
	}
	if c := commits.Load(); c > 3 {
		t.Errorf("%d commits for %d queued requests; want them grouped", c, writers)
	}
	if ms, _ := db.List(ctx, Filter{}); len(ms) != writers-2+1 {
		t.Errorf("stored %d messages, want %d", len(ms), writers)
	}
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // generous: CI machines are slow under -race
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached before the deadline")
		}
		time.Sleep(time.Millisecond)
	}
}
