package store

import (
	"context"
	"testing"
	"time"
)

// TestWebhookCursorsPersist: a cursor written before a close is read back
// after a reopen, a missing one reports ok=false, and an empty name is
// refused.
func TestWebhookCursorsPersist(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := openTest(t, dir, Options{})
	if _, ok, err := db.WebhookCursor(ctx, "app"); err != nil || ok {
		t.Fatalf("WebhookCursor on a new spool = ok %v, %v; want none", ok, err)
	}
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []WebhookCursor{
		{Endpoint: "app", Seq: 41},
		{Endpoint: "app", Seq: 42, Failed: true, FailingSince: since, LastError: "HTTP 503"},
		{Endpoint: "crm", Seq: 7},
	} {
		if err := db.PutWebhookCursor(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.PutWebhookCursor(ctx, WebhookCursor{}); err == nil {
		t.Fatal("PutWebhookCursor without a name succeeded")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openTest(t, dir, Options{})
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
