package pgstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outbox-mta/outbox/store"
)

// TestCorruptRecordQuarantined: a record that does not decode (written
// behind the store's back) is quarantined where it is met: Get reports
// ErrCorrupt, List skips it, Quarantined lists it with its bytes, Update
// and OpenBody refuse it, Delete removes it.
func TestCorruptRecordQuarantined(t *testing.T) {
	ctx := context.Background()
	url := pg.Get(t).NewDatabase(t)
	db := openTest(t, url, Options{ScratchDir: t.TempDir()})
	good := enqueueOne(t, db, time.Now())
	bad := enqueueOne(t, db, time.Now())
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE messages SET record = '\x09ff' WHERE id = $1`, bad); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Get(ctx, bad); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("Get of a corrupt record: %v, want ErrCorrupt", err)
	}
	ms, err := db.List(ctx, store.Filter{Done: true})
	if err != nil || len(ms) != 1 || ms[0].ID != good {
		t.Errorf("List = %v, %v; want only %s", ms, err, good)
	}
	q, err := db.Quarantined(ctx)
	if err != nil || len(q) != 1 || q[0].ID != bad || string(q[0].Raw) != "\x09\xff" {
		t.Errorf("Quarantined = %+v, %v", q, err)
	}
	if err := db.Update(ctx, bad, func(*store.Message) error { return nil }); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("Update of a quarantined message: %v, want ErrCorrupt", err)
	}
	if ids, _ := db.Due(ctx, time.Now().Add(time.Hour), 0, nil); len(ids) != 1 || ids[0] != good {
		t.Errorf("Due = %v, want only %s", ids, good)
	}
	if err := db.Delete(ctx, bad); err != nil {
		t.Errorf("Delete of a quarantined message: %v", err)
	}
	if q, _ := db.Quarantined(ctx); len(q) != 0 {
		t.Errorf("quarantine after Delete: %+v", q)
	}
}

// TestDatabaseDown: while the server is down every write fails with
// store.ErrCommit (the listener's 451, the queue's pause) and the body
// stays usable; when it is back, the same Enqueue succeeds and Probe
// reports it, with no new connection set-up by the caller.
func TestDatabaseDown(t *testing.T) {
	ctx := context.Background()
	srv := pg.Get(t)
	db := openTest(t, srv.NewDatabase(t), Options{ScratchDir: t.TempDir(), InlineMax: 16})
	id := enqueueOne(t, db, time.Now())
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	defer func() {
		if !restarted {
			srv.Restart()
		}
	}()
	b, _ := db.NewBody()
	b.Write([]byte("Subject: while down\r\n\r\na body past InlineMax, in the scratch file\r\n"))
	m := &store.Message{From: "a@example.com", Recipients: []store.Recipient{{Addr: "b@example.org"}}}
	if err := db.Enqueue(ctx, m, b); !errors.Is(err, store.ErrCommit) {
		t.Fatalf("Enqueue with the database down: %v, want ErrCommit", err)
	}
	if err := db.Update(ctx, id, deliver); !errors.Is(err, store.ErrCommit) {
		t.Errorf("Update with the database down: %v, want ErrCommit", err)
	}
	if err := db.Probe(ctx); !errors.Is(err, store.ErrCommit) {
		t.Errorf("Probe with the database down: %v, want ErrCommit", err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	if err := db.Probe(ctx); err != nil {
		t.Fatalf("Probe after the restart: %v", err)
	}
	if err := db.Enqueue(ctx, m, b); err != nil {
		t.Fatalf("the same Enqueue after the restart: %v", err)
	}
	got, err := db.List(ctx, store.Filter{Done: true})
	if err != nil || len(got) != 2 {
		t.Errorf("after the restart: %d messages, %v; want 2", len(got), err)
	}
}

// TestSchemaVersioned: Open creates the schema once and records its
// version; a second Open (another node) applies nothing again; a database
// migrated by a newer Outbox is refused, not used.
func TestSchemaVersioned(t *testing.T) {
	ctx := context.Background()
	url := pg.Get(t).NewDatabase(t)
	openTest(t, url, Options{ScratchDir: t.TempDir()})
	openTest(t, url, Options{ScratchDir: t.TempDir()})
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	var n, v int
	if err := conn.QueryRow(ctx, `SELECT count(*), max(version) FROM schema_version`).Scan(&n, &v); err != nil || n != len(ms) || v != SchemaVersion() {
		t.Fatalf("schema_version: %d rows, max %d, %v; want %d, %d", n, v, err, len(ms), SchemaVersion())
	}
	if _, err := conn.Exec(ctx, `INSERT INTO schema_version (version, name) VALUES (999, '999_future.sql')`); err != nil {
		t.Fatal(err)
	}
	if db, err := Open(ctx, url, Options{ScratchDir: t.TempDir()}); err == nil {
		db.Close()
		t.Fatal("Open accepted a schema newer than it knows")
	} else if !strings.Contains(err.Error(), "newer than this Outbox knows") || errors.Is(err, store.ErrCommit) {
		t.Errorf("Open of a newer schema: %v", err)
	}
}

// TestBodiesUncompressed: bodies are stored without pglz (migration 004),
// which spends CPU on every insert for mail that is mostly base64 or
// compressed already.
func TestBodiesUncompressed(t *testing.T) {
	ctx := context.Background()
	url := pg.Get(t).NewDatabase(t)
	openTest(t, url, Options{ScratchDir: t.TempDir()})
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT attname, attstorage FROM pg_attribute
		WHERE attrelid = 'bodies'::regclass AND attname IN ('prefix', 'body')`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var name, storage string
		if err := rows.Scan(&name, &storage); err != nil {
			t.Fatal(err)
		}
		if n++; storage != "e" {
			t.Errorf("bodies.%s: storage %q, want e (EXTERNAL: out of line, uncompressed)", name, storage)
		}
	}
	if n != 2 {
		t.Errorf("%d columns checked, want 2 (%v)", n, rows.Err())
	}
}
