package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/store"
	"github.com/outbox-mta/outbox/store/pgstore"
	"github.com/outbox-mta/outbox/store/pgstore/pgtest"
)

// pg is this test binary's PostgreSQL server, started at first use.
var pg pgtest.Lazy

func TestMain(m *testing.M) {
	code := m.Run()
	pg.Stop()
	os.Exit(code)
}

// TestSpoolMigrate: a bbolt spool copied into PostgreSQL keeps every
// message's ID, record and body (DKIM prefix included, in memory and in
// file bodies), the bounce log and the idempotency records; a second run
// copies nothing twice; the daemon's lock and bad arguments are refused.
func TestSpoolMigrate(t *testing.T) {
	ctx := context.Background()
	dir := seedSpoolDir(t, 30)
	quiet := slog.New(slog.DiscardHandler)
	src, err := store.Open(dir, store.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	// One signed message bounced on one recipient, with an idempotency key.
	b, _ := src.NewBody()
	b.Write([]byte("Subject: signed\r\n\r\nhi\r\n"))
	m := &store.Message{From: "a@example.org", Prefix: []byte("DKIM-Signature: v=1; b=x\r\n"),
		Recipients: []store.Recipient{{Addr: "gone@example.com"}, {Addr: "ok@example.com"}}}
	rec := &store.Idempotency{Key: "app:k1", Request: sha256.Sum256([]byte("r")), Response: []byte("202")}
	if _, err := src.EnqueueOnce(ctx, m, b, rec, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := src.Update(ctx, m.ID, func(m *store.Message) error {
		m.Recipients[0].State, m.Recipients[0].LastReply = store.StateBounced, "550 5.1.1 no such user"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want, _ := src.List(ctx, store.Filter{Done: true, Limit: store.MaxListLimit})
	wantBodies := map[string][]byte{}
	for _, w := range want {
		rc, _ := src.OpenBody(ctx, w.ID)
		wantBodies[w.ID], _ = io.ReadAll(rc)
		rc.Close()
	}
	url := pg.Get(t).NewDatabase(t)
	checkVerbRun(t, runSpoolMigrate, []string{"--from", "bbolt", dir, "--to", "postgres", url}, exitUsage, nil, []string{"stop it first"})
	src.Close()

	checkVerbRun(t, runSpoolMigrate, []string{"--from", "bbolt", dir, "--to", "postgres", url}, exitOK,
		[]string{"31 messages copied, 0 already there, 1 bounce log rows, 0 quarantined, 1 idempotency records"}, nil)
	checkVerbRun(t, runSpoolMigrate, []string{"--to", "postgres", url, "--from", "bbolt", dir}, exitOK,
		[]string{"0 messages copied, 31 already there"}, nil)
	checkVerbRun(t, runSpoolMigrate, []string{"--from", "postgres", url, "--to", "bbolt", dir}, exitUsage, nil, []string{"only move is from bbolt to postgres"})
	checkVerbRun(t, runSpoolMigrate, []string{"--from", "bbolt", dir}, exitUsage, nil, []string{"both required"})

	dst, err := pgstore.Open(ctx, url, pgstore.Options{Logger: quiet, ScratchDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	got, err := dst.List(ctx, store.Filter{Done: true, Limit: store.MaxListLimit})
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("List after migrate: %d messages (%v), want the %d of the bbolt spool, equal", len(got), err, len(want))
	}
	for id, body := range wantBodies {
		rc, err := dst.OpenBody(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(data, body) {
			t.Errorf("%s: body of %d bytes, want %d", id, len(data), len(body))
		}
	}
	if bs, _ := dst.Bounces(ctx, time.Time{}); len(bs) != 1 || bs[0].MsgID != m.ID {
		t.Errorf("bounce log after migrate: %+v", bs)
	}
	b2, _ := dst.NewBody()
	b2.Write([]byte("x"))
	prior, err := dst.EnqueueOnce(ctx, &store.Message{Recipients: []store.Recipient{{Addr: "x@y"}}}, b2,
		&store.Idempotency{Key: "app:k1", Request: sha256.Sum256([]byte("r"))}, time.Time{})
	if err != nil || prior == nil || string(prior.Response) != "202" {
		t.Errorf("idempotency record after migrate: prior %+v, %v", prior, err)
	}
	b2.Discard()
}
