package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
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
	// The state beside the messages: suppressions, TLS memory and
	// reports, a webhook cursor, and the event log with its numbers.
	if _, err := src.Suppress(ctx, store.Suppression{Addr: "gone@example.com", Reply: "550 5.1.1"}); err != nil {
		t.Fatal(err)
	}
	src.RaiseTLSLevel(ctx, "example.com", 2)
	src.PutWebhookCursor(ctx, store.WebhookCursor{Endpoint: "app", Seq: 7})
	src.UpdateTLSReports(ctx, []store.TLSReportUpdate{{Day: "2026-11-29", Domain: "example.com",
		Merge: func([]byte) ([]byte, error) { return []byte("agg"), nil }}})
	wantEvents, _ := src.Events(ctx, 0, 0)
	lastSeq := src.LastEventSeq()
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
		[]string{fmt.Sprintf("31 messages copied, 0 already there, 1 bounce log rows, 0 quarantined, 1 idempotency records, %d events, 1 suppressions", len(wantEvents))}, nil)
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
	checkSharedMigrated(t, dst, wantEvents, lastSeq)
	b2, _ := dst.NewBody()
	b2.Write([]byte("x"))
	prior, err := dst.EnqueueOnce(ctx, &store.Message{Recipients: []store.Recipient{{Addr: "x@y"}}}, b2,
		&store.Idempotency{Key: "app:k1", Request: sha256.Sum256([]byte("r"))}, time.Time{})
	if err != nil || prior == nil || string(prior.Response) != "202" {
		t.Errorf("idempotency record after migrate: prior %+v, %v", prior, err)
	}
	b2.Discard()
}

// checkSharedMigrated checks what spool migrate copies beside the
// messages, and that the event sequence continues after the source's.
func checkSharedMigrated(t *testing.T, dst *pgstore.DB, wantEvents []store.Event, lastSeq uint64) {
	t.Helper()
	ctx := context.Background()
	got, err := dst.Events(ctx, 0, 0)
	if err != nil || len(got) != len(wantEvents) || len(got) == 0 {
		t.Fatalf("events after migrate: %d, %v; want %d", len(got), err, len(wantEvents))
	}
	for i := range got {
		if got[i].Seq != wantEvents[i].Seq || got[i].Type != wantEvents[i].Type || got[i].QueueID != wantEvents[i].QueueID {
			t.Fatalf("event %d after migrate = %+v, want %+v", i, got[i], wantEvents[i])
		}
	}
	if s, err := dst.Suppression(ctx, "gone@example.com"); err != nil || s.Reply != "550 5.1.1" {
		t.Errorf("suppression after migrate: %+v, %v", s, err)
	}
	if l, _ := dst.TLSLevel(ctx, "example.com"); l != 2 {
		t.Errorf("TLS level after migrate: %d", l)
	}
	if c, ok, _ := dst.WebhookCursor(ctx, "app"); !ok || c.Seq != 7 {
		t.Errorf("webhook cursor after migrate: %+v", c)
	}
	if rs, _ := dst.TLSReports(ctx, "2026-11-30"); len(rs) != 1 || string(rs[0].Data) != "agg" {
		t.Errorf("TLS reports after migrate: %+v", rs)
	}
	b, _ := dst.NewBody()
	b.Write([]byte("x"))
	if err := dst.Enqueue(ctx, &store.Message{Recipients: []store.Recipient{{Addr: "new@y"}}}, b); err != nil {
		t.Fatal(err)
	}
	if evs, _ := dst.Events(ctx, lastSeq, 0); len(evs) != 1 || evs[0].Seq != lastSeq+1 {
		t.Errorf("the first event after migrate: %+v, want number %d", evs, lastSeq+1)
	}
}
