package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/queue/webhook"
	"github.com/outbox-mta/outbox/store"
)

// BenchmarkWebhookDispatch is the dispatcher's own cost per event: b.N
// events in a real spool, read through the store adapter and delivered to
// a loopback endpoint that answers 204 at once.
//
//	go test -run '^$' -bench WebhookDispatch -benchtime 20000x ./cmd/outbox
func BenchmarkWebhookDispatch(b *testing.B) {
	db, err := store.Open(b.TempDir(), store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for i := 0; i < b.N; i += 10 {
		body, _ := db.NewBody()
		io.WriteString(body, "x\r\n")
		m := &store.Message{From: "a@x.example", MessageID: "<m@x.example>", Tags: []string{"order"}, Metadata: map[string]string{"customer": "1042"}}
		for range min(10, b.N-i) {
			m.Recipients = append(m.Recipients, store.Recipient{Addr: "someone@y.example"})
		}
		if err := db.Enqueue(ctx, m, body); err != nil {
			b.Fatal(err)
		}
	}
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		got.Add(n)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	secret, _ := webhook.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	d, err := webhook.New(webhook.Options{Endpoints: []webhook.Endpoint{{Name: "app", URL: u, Secret: secret}},
		Log: eventLog{db}, Cursors: db, Logger: slog.New(slog.DiscardHandler), Linger: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { d.Run(rctx); close(done) }()
	deadline := time.Now().Add(5 * time.Minute)
	for d.Status()[0].Cursor < uint64(b.N) {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d events delivered", d.Status()[0].Cursor, b.N)
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	cancel()
	<-done
	b.ReportMetric(float64(got.Load())/float64(b.N), "bytes/event")
}
