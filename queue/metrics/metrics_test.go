package metrics

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/queue"
	"github.com/outbox-mta/outbox/store"
)

type fakeQueue struct{ s queue.Stats }

func (f *fakeQueue) Stats() queue.Stats { return f.s }

type fakeSpool struct {
	s     store.Stats
	scans int
}

func (f *fakeSpool) Stats(context.Context) (store.Stats, error) {
	f.scans++
	return f.s, nil
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

func TestEndpointExportsCounters(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	q := &fakeQueue{s: queue.Stats{
		Accepted: 7, Delivered: 5, Deferred: 2, DestinationSkips: 1, Ambiguous: 1, DSNs: 3,
		ConnsOpen: 4, InFlight: 2, DownDomains: 1,
		DispatchPaused: true, CommitFailures: 3, CommitBackoff: 2,
		BouncedBy:     map[string]uint64{queue.BounceRemote5xx: 2, queue.BounceExpired: 1},
		AttemptsByTLS: map[string]uint64{"TLS1.3": 6, "none": 2},
		AttemptDuration: queue.Histogram{
			Bounds: []float64{0.5, 1}, Counts: []uint64{3, 7}, Count: 8, Sum: 9.5,
		},
	}}
	sp := &fakeSpool{s: store.Stats{
		Recipients:    map[store.State]int{store.StateDeferred: 3, store.StateQueued: 1},
		Pending:       3,
		OldestPending: now.Add(-90 * time.Second),
		FileSize:      1 << 20,
	}}
	m, err := New(Options{Queue: q, Spool: sp, Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Serve(l) }()
	t.Cleanup(func() {
		m.Shutdown(context.Background())
		if err := <-done; err != ErrServerClosed {
			t.Errorf("Serve = %v, want ErrServerClosed", err)
		}
	})

	body := scrape(t, "http://"+l.Addr().String()+"/metrics")
	for _, want := range []string{
		"outbox_messages_accepted_total 7",
		"outbox_recipients_delivered_total 5",
		"outbox_recipients_deferred_total 3",
		`outbox_recipients_bounced_total{reason="remote-5xx"} 2`,
		`outbox_recipients_bounced_total{reason="expired"} 1`,
		`outbox_recipients_bounced_total{reason="dns"} 0`,
		`outbox_recipients_bounced_total{reason="policy"} 0`,
		`outbox_delivery_attempts_total{tls="TLS1.3"} 6`,
		`outbox_delivery_attempts_total{tls="none"} 2`,
		`outbox_delivery_attempt_duration_seconds_bucket{le="0.5"} 3`,
		`outbox_delivery_attempt_duration_seconds_bucket{le="+Inf"} 8`,
		"outbox_delivery_attempt_duration_seconds_sum 9.5",
		"outbox_deliveries_ambiguous_total 1",
		"outbox_notices_queued_total 3",
		"outbox_submission_connections_open 4",
		"outbox_deliveries_in_flight 2",
		"outbox_destinations_down 1",
		"outbox_dispatch_paused 1",
		"outbox_outcome_commit_failures_total 3",
		"outbox_commit_backoff_messages 2",
		`outbox_queue_recipients{state="deferred"} 3`,
		`outbox_queue_recipients{state="held"} 0`,
		"outbox_queue_messages_pending 3",
		"outbox_queue_oldest_message_age_seconds 90",
		"outbox_spool_file_bytes 1.048576e+06",
		"go_goroutines ",
	} {
		if !strings.Contains(body, want+"\n") && !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}

func TestSpoolScanIsCached(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	sp := &fakeSpool{s: store.Stats{Recipients: map[store.State]int{}}}
	m, err := New(Options{Queue: &fakeQueue{}, Spool: sp, SpoolMaxAge: time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		advance time.Duration
		scans   int
	}{{0, 1}, {10 * time.Second, 1}, {49 * time.Second, 1}, {2 * time.Second, 2}, {0, 2}}
	for i, s := range steps {
		now = now.Add(s.advance)
		if _, err := m.Registry().Gather(); err != nil {
			t.Fatal(err)
		}
		if sp.scans != s.scans {
			t.Errorf("step %d: %d spool scans, want %d", i, sp.scans, s.scans)
		}
	}
}
