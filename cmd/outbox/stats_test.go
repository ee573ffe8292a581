package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/queue"
	"github.com/outbox-mta/outbox/queue/admin"
	"github.com/outbox-mta/outbox/queue/metrics"
	"github.com/outbox-mta/outbox/store"
)

type idleDeliverer struct{}

func (idleDeliverer) Deliver(context.Context, *delivery.Envelope) *delivery.Result { return nil }

// `outbox queue stats` and the metrics read one count, so they agree,
// also once a message is held: as serve wires them, over a real spool.
func TestQueueStatsAndMetricsAgree(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	db, err := store.Open(t.TempDir(), store.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q, err := queue.New(db, idleDeliverer{}, queue.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i, st := range []store.State{store.StateHeld, store.StateQueued, store.StateDeferred} {
		b, err := db.NewBody()
		if err != nil {
			t.Fatal(err)
		}
		b.Write([]byte("Subject: x\r\n\r\nx\r\n"))
		m := &store.Message{From: "a@src.example", Received: now.Add(-time.Duration(3-i) * time.Hour),
			Recipients: []store.Recipient{{Addr: "r@dest.example", State: st, NextAttempt: now.Add(time.Hour)}}}
		if err := db.Enqueue(ctx, m, b); err != nil {
			t.Fatal(err)
		}
	}

	srv, err := admin.New(admin.Options{Queue: q.Ops(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/v1/stats", strings.NewReader("{}")))
	var as admin.Stats
	if err := json.Unmarshal(rec.Body.Bytes(), &as); err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}

	m, err := metrics.New(metrics.Options{Queue: q, Spool: db, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	gauge := map[string]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			if mt.GetGauge() != nil && len(mt.GetLabel()) == 0 {
				gauge[mf.GetName()] = mt.GetGauge().GetValue()
			}
		}
	}
	if as.Pending != 2 || gauge["outbox_queue_messages_pending"] != float64(as.Pending) {
		t.Errorf("queue stats pending %d, metric %v; want both 2", as.Pending, gauge["outbox_queue_messages_pending"])
	}
	age := gauge["outbox_queue_oldest_message_age_seconds"]
	if want := now.Sub(as.Oldest).Seconds(); as.Oldest.IsZero() || age < want-60 || age > want+60 {
		t.Errorf("oldest: queue stats %v (%.0fs), metric %.0fs", as.Oldest, want, age)
	}
	if as.ByState["held"] != 1 || len(as.ByDomain) != 1 || as.ByDomain[0].Held != 1 {
		t.Errorf("held recipient not counted: %+v", as)
	}
}
