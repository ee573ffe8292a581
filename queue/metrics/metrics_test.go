package metrics

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/mxresolve"
	"github.com/outbox-mta/outbox/queue"
	"github.com/outbox-mta/outbox/store"
)

type fakeQueue struct{ s queue.Stats }

func (f *fakeQueue) Stats() queue.Stats { return f.s }

type fakeListener ListenerStats

func (f fakeListener) ListenerStats() ListenerStats { return ListenerStats(f) }

type fakeSpool struct {
	s     store.Stats
	err   error
	scans int
}

func (f *fakeSpool) Stats(context.Context) (store.Stats, error) {
	f.scans++
	return f.s, f.err
}

type fakeDNSCache mxresolve.CacheStats

func (f fakeDNSCache) Stats() mxresolve.CacheStats { return mxresolve.CacheStats(f) }

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
		Delivered: 5, Deferred: 2, DestinationSkips: 1, Ambiguous: 1, DSNs: 3,
		InFlight: 2, DownDomains: 1,
		DispatchPaused: true, CommitFailures: 3, CommitBackoff: 2,
		Shaping: queue.ShapingStats{Throttled: 4, Parks: 6,
			Destinations: map[string]int{"suspended": 1, "throttled": 2},
			Reactions:    map[string]uint64{"gmail-unsolicited-rate": 5}},
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
	dc := fakeDNSCache{Hits: 990, Misses: 10, Entries: 3}
	m, err := New(Options{Queue: q, Listener: fakeListener{Accepted: 7, ConnsOpen: 4}, Spool: sp, DNSCache: dc, Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)})
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
		`outbox_recipients_bounced_total{reason="suppressed"} 0`,
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
		"outbox_dns_cache_hits_total 990",
		"outbox_dns_cache_misses_total 10",
		"outbox_dns_cache_entries 3",
		`outbox_shaping_destinations{state="suspended"} 1`,
		`outbox_shaping_destinations{state="throttled"} 2`,
		`outbox_shaping_destinations{state="rate-limited"} 0`,
		`outbox_shaping_reactions_total{reaction="gmail-unsolicited-rate"} 5`,
		"outbox_throttled_recipients_total 4",
		"outbox_shaping_parked_total 6",
		"go_goroutines ",
	} {
		if !strings.Contains(body, want+"\n") && !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}

// Every scrape reads the spool's counts afresh (they cost no scan); a
// read that fails reports the last good ones rather than none.
func TestSpoolReadAtEachScrape(t *testing.T) {
	sp := &fakeSpool{s: store.Stats{Pending: 1, Recipients: map[store.State]int{}}}
	m, err := New(Options{Queue: &fakeQueue{}, Spool: sp, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	pending := func() float64 {
		t.Helper()
		mfs, err := m.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "outbox_queue_messages_pending" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no outbox_queue_messages_pending")
		return 0
	}
	for i, st := range []struct {
		pending int
		err     error
		want    float64
	}{{1, nil, 1}, {2, nil, 2}, {3, errors.New("spool closed"), 2}, {4, nil, 4}} {
		sp.s.Pending, sp.err = st.pending, st.err
		if got := pending(); got != st.want || sp.scans != i+1 {
			t.Errorf("scrape %d: pending %v after %d reads, want %v after %d", i+1, got, sp.scans, st.want, i+1)
		}
	}
}

// Without a DNS cache (it is off), its metrics are absent rather than 0.
func TestNoDNSCacheNoDNSMetrics(t *testing.T) {
	m, err := New(Options{Queue: &fakeQueue{}})
	if err != nil {
		t.Fatal(err)
	}
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "outbox_dns_cache_") {
			t.Errorf("metric %s exported without a DNS cache", mf.GetName())
		}
	}
}

// TestIdleConnectionsAreBounded: keep-alive connections that send nothing
// are closed after the idle timeout, and no more than MaxConnections are
// served at once, so idle clients cannot hold the daemon's descriptors.
func TestIdleConnectionsAreBounded(t *testing.T) {
	m, err := New(Options{Queue: &fakeQueue{}, MaxConnections: 3, IdleTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = m.Serve(l) }()
	t.Cleanup(func() { _ = m.Shutdown(context.Background()) })

	// A keep-alive client: one request, then silence.
	idle := func() net.Conn {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	conns := make([]net.Conn, 5)
	for i := range conns {
		conns[i] = idle()
		_, _ = io.WriteString(conns[i], "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	// Only 3 are served at once: the 4th gets its reply only after an
	// idle one is closed.
	start := time.Now()
	_ = conns[3].SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := conns[3].Read(make([]byte, 1)); err != nil {
		t.Fatalf("4th connection never served: %v", err)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Errorf("4th connection served after %v, before an idle one was closed", waited)
	}
	// Idle keep-alive connections are closed by the server.
	_ = conns[0].SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, conns[0]); err != nil {
		t.Errorf("idle connection not closed by the server: %v", err)
	}
}

// TestBuildInfo: the binary's version, commit and Go version are the
// labels of a constant outbox_build_info 1; without them it is absent.
func TestBuildInfo(t *testing.T) {
	b := BuildInfo{Version: "v1.2.0", Commit: "0123abcd-dirty", GoVersion: "go1.26.0"}
	m, err := New(Options{Queue: &fakeQueue{}, Build: b})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	want := `outbox_build_info{commit="0123abcd-dirty",goversion="go1.26.0",version="v1.2.0"} 1`
	if !strings.Contains(rec.Body.String(), want+"\n") {
		t.Errorf("scrape lacks %q", want)
	}

	m, err = New(Options{Queue: &fakeQueue{}})
	if err != nil {
		t.Fatal(err)
	}
	rec = httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if strings.Contains(rec.Body.String(), "outbox_build_info") {
		t.Error("outbox_build_info exported without build information")
	}
}
