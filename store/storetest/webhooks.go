package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// testWebhookCursors: a cursor written before a close is read back after
// a reopen, a missing one reports ok=false, and an empty name is refused.
func testWebhookCursors(t *testing.T, opener Opener) {
	ctx := context.Background()
	db := open(opener, Options{})
	if _, ok, err := db.WebhookCursor(ctx, "app"); err != nil || ok {
		t.Fatalf("WebhookCursor on a new spool = ok %v, %v; want none", ok, err)
	}
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []store.WebhookCursor{
		{Endpoint: "app", Seq: 41},
		{Endpoint: "app", Seq: 42, Failed: true, FailingSince: since, LastError: "HTTP 503"},
		{Endpoint: "crm", Seq: 7},
	} {
		if err := db.PutWebhookCursor(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.PutWebhookCursor(ctx, store.WebhookCursor{}); err == nil {
		t.Fatal("PutWebhookCursor without a name succeeded")
	}
	db.Close()
	db = open(opener, Options{})
	c, ok, err := db.WebhookCursor(ctx, "app")
	if err != nil || !ok {
		t.Fatalf("WebhookCursor after reopen: ok %v, %v", ok, err)
	}
	if c.Seq != 42 || !c.Failed || !c.FailingSince.Equal(since) || c.LastError != "HTTP 503" || c.Updated.IsZero() {
		t.Fatalf("cursor after reopen = %+v", c)
	}
	all, err := db.WebhookCursors(ctx)
	if err != nil || len(all) != 2 || all[0].Endpoint != "app" || all[1].Endpoint != "crm" || all[1].Seq != 7 {
		t.Fatalf("WebhookCursors = %+v, %v", all, err)
	}
}

// testEventsJSON: EventsJSON gives each event's number, type and exactly
// the JSON of the decoded event (the feed's), page by page.
func testEventsJSON(t *testing.T, opener Opener) {
	ctx := context.Background()
	db := open(opener, Options{})
	enqueue(t, db, &store.Message{From: "a@x.example", Recipients: rcpts("b@y.example", "c@y.example"), Tags: []string{"t"}}, []byte("x\r\n"))
	enqueue(t, db, &store.Message{From: "a@x.example", Recipients: rcpts("d@y.example")}, []byte("x\r\n"))
	evs, err := db.Events(ctx, 0, 0)
	if err != nil || len(evs) != 3 {
		t.Fatalf("Events = %d, %v", len(evs), err)
	}
	raw, err := db.EventsJSON(ctx, 1, 5)
	if err != nil || len(raw) != 2 {
		t.Fatalf("EventsJSON(after 1) = %d, %v", len(raw), err)
	}
	for i, r := range raw {
		want, _ := json.Marshal(&evs[i+1])
		if r.Seq != evs[i+1].Seq || r.Type != store.EventAccepted || string(r.JSON) != string(want) {
			t.Errorf("EventsJSON[%d] = %d %s %s; want %d %s", i, r.Seq, r.Type, r.JSON, evs[i+1].Seq, want)
		}
	}
	if raw, err := db.EventsJSON(ctx, 3, 0); err != nil || len(raw) != 0 {
		t.Fatalf("EventsJSON after the last = %d, %v", len(raw), err)
	}
}
