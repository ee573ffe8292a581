package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/config"
	"github.com/outbox-mta/outbox/store"
)

// TestWebhookEventTypesAreTheStore's: the types webhooks.events accepts
// are exactly the event log's.
func TestWebhookEventTypesAreTheStores(t *testing.T) {
	var types []string
	for _, e := range []store.EventType{store.EventAccepted, store.EventDelivered, store.EventDeferred, store.EventBounced,
		store.EventDelay, store.EventHeld, store.EventReleased, store.EventDeleted} {
		types = append(types, string(e))
	}
	if got := config.WebhookEventTypes(); !slices.Equal(got, types) {
		t.Fatalf("config.WebhookEventTypes() = %v, the store's types are %v", got, types)
	}
}

// TestEventLogAdapter: the dispatcher reads the store's events with their
// public JSON, and Wait returns once a new event is committed.
func TestEventLogAdapter(t *testing.T) {
	db, err := store.Open(t.TempDir(), store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l := eventLog{db}
	ctx := context.Background()
	waited := make(chan error, 1)
	go func() { waited <- l.Wait(ctx, 0) }()
	b, _ := db.NewBody()
	io.WriteString(b, "x\r\n")
	if err := db.Enqueue(ctx, &store.Message{From: "a@x.example", Recipients: []store.Recipient{{Addr: "b@y.example"}}}, b); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waited:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after an event was committed")
	}
	evs, err := l.Events(ctx, 0, 10)
	if err != nil || len(evs) != 1 || evs[0].Seq != 1 || evs[0].Type != "accepted" {
		t.Fatalf("Events = %+v, %v", evs, err)
	}
	var e struct {
		Seq       uint64 `json:"seq"`
		Type      string `json:"type"`
		Recipient string `json:"recipient"`
	}
	if err := json.Unmarshal(evs[0].JSON, &e); err != nil || e.Seq != 1 || e.Type != "accepted" || e.Recipient != "b@y.example" {
		t.Fatalf("JSON %s: %+v, %v", evs[0].JSON, e, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.Wait(cctx, 1); err == nil {
		t.Fatal("Wait with a cancelled context and no new event returned nil")
	}
}
