package webhook

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"
)

// seqsOf flattens the events of calls in the order received.
func seqsOf(calls []call) []uint64 {
	var out []uint64
	for _, c := range calls {
		out = append(out, c.seqs...)
	}
	return out
}

func upTo(n uint64) []uint64 {
	var out []uint64
	for i := uint64(1); i <= n; i++ {
		out = append(out, i)
	}
	return out
}

// TestRetriesInOrderWithBackoff: a receiver that fails its first three
// calls gets the same batch (same webhook-id) again after 5s, 10s, 20s,
// then every event in order; the cursor is recorded only after the 2xx.
func TestRetriesInOrderWithBackoff(t *testing.T) {
	r, srv := newReceiver(t, func(n int, w http.ResponseWriter) {
		if n <= 3 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	h := start(t, Options{Endpoints: []Endpoint{endpoint(t, "app", srv.URL)}, MaxBatch: 2})
	h.log.add("delivered", 5)
	for i, want := range []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second} {
		if got := h.clock.sleep(t); got != want {
			t.Fatalf("back-off %d = %v, want %v", i+1, got, want)
		}
		if c := h.cursors.get("app"); c.Seq != 0 || c.FailingSince.IsZero() {
			t.Fatalf("cursor during failures = %+v; want seq 0 with failing_since", c)
		}
		h.clock.Advance(want)
	}
	calls := r.wait(t, 6) // 3 failures, then batches [1 2] [3 4] [5]
	waitFor(t, "cursor 5", func() bool { return h.cursors.get("app").Seq == 5 })
	for i := range 4 {
		if got := calls[i].header.Get(HeaderID); got != "outbox-1-2" {
			t.Fatalf("call %d webhook-id = %q, want outbox-1-2 on every retry", i+1, got)
		}
	}
	if got := seqsOf(calls[3:]); !slices.Equal(got, upTo(5)) {
		t.Fatalf("events acknowledged in order %v, want %v", got, upTo(5))
	}
	if c := h.cursors.get("app"); !c.FailingSince.IsZero() || c.LastError != "" || c.Failed {
		t.Fatalf("cursor after recovery = %+v", c)
	}
	s := h.d.Status()[0]
	if s.Requests != 6 || s.Failures != 3 || s.Delivered != 5 {
		t.Fatalf("status = %+v", s)
	}
}

// TestBackoffIsCapped: the wait between retries doubles up to MaxRetry and
// stays there.
func TestBackoffIsCapped(t *testing.T) {
	_, srv := newReceiver(t, func(_ int, w http.ResponseWriter) { w.WriteHeader(http.StatusInternalServerError) })
	h := start(t, Options{Endpoints: []Endpoint{endpoint(t, "app", srv.URL)}, FirstRetry: time.Second, MaxRetry: 4 * time.Second})
	h.log.add("delivered", 1)
	var got []time.Duration
	for range 5 {
		d := h.clock.sleep(t)
		got = append(got, d)
		h.clock.Advance(d)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second}
	if !slices.Equal(got, want) {
		t.Fatalf("back-offs %v, want %v", got, want)
	}
}

// TestFailedAfterRetryForThenProbedUntilItAnswers: failures longer than
// retry_for mark the endpoint failed (persisted), then it is probed every
// ProbeInterval; once it answers, it resumes from its cursor and the mark
// is cleared.
func TestFailedAfterRetryForThenProbedUntilItAnswers(t *testing.T) {
	up := make(chan bool, 1)
	up <- false
	r, srv := newReceiver(t, func(_ int, w http.ResponseWriter) {
		ok := <-up
		up <- ok
		if !ok {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	ep := endpoint(t, "app", srv.URL)
	ep.RetryFor = time.Minute
	h := start(t, Options{Endpoints: []Endpoint{ep}, FirstRetry: 20 * time.Second, MaxRetry: 20 * time.Second, ProbeInterval: time.Hour})
	h.log.add("bounced", 3)
	for _, want := range []time.Duration{20 * time.Second, 20 * time.Second, 20 * time.Second} {
		if d := h.clock.sleep(t); d != want {
			t.Fatalf("back-off %v, want %v", d, want)
		}
		if h.d.Status()[0].Failed {
			t.Fatal("failed before retry_for passed")
		}
		h.clock.Advance(want)
	}
	// The fourth failure is 60s after the first: retry_for has passed.
	if d := h.clock.sleep(t); d != time.Hour {
		t.Fatalf("wait once failed = %v, want the probe interval", d)
	}
	if c := h.cursors.get("app"); !c.Failed || c.Seq != 0 || c.LastError != "HTTP 502" {
		t.Fatalf("persisted cursor = %+v; want failed at seq 0 with HTTP 502", c)
	}
	if s := h.d.Status()[0]; !s.Failed || s.NextAttempt.IsZero() {
		t.Fatalf("status = %+v", s)
	}
	<-up
	up <- true
	h.clock.Advance(time.Hour)
	waitFor(t, "the probe's delivery", func() bool { return h.cursors.get("app").Seq == 3 })
	if c := h.cursors.get("app"); c.Failed || !c.FailingSince.IsZero() {
		t.Fatalf("cursor after the endpoint answered = %+v", c)
	}
	if got := seqsOf(r.wait(t, 5)[4:]); !slices.Equal(got, upTo(3)) {
		t.Fatalf("delivered %v", got)
	}
}

// TestRedeliverResumesAtOnce: Redeliver clears the failed mark and sends
// again without waiting out the probe interval; an unknown name is an
// error.
func TestRedeliverResumesAtOnce(t *testing.T) {
	up := make(chan bool, 1)
	up <- false
	r, srv := newReceiver(t, func(_ int, w http.ResponseWriter) {
		ok := <-up
		up <- ok
		if !ok {
			w.WriteHeader(http.StatusNotFound)
		}
	})
	ep := endpoint(t, "app", srv.URL)
	ep.RetryFor = time.Nanosecond
	h := start(t, Options{Endpoints: []Endpoint{ep}, ProbeInterval: time.Hour})
	h.log.add("delivered", 2)
	h.clock.sleep(t) // the first failure: not yet past retry_for
	h.clock.Advance(5 * time.Second)
	if d := h.clock.sleep(t); d != time.Hour {
		t.Fatalf("wait = %v, want the probe interval", d)
	}
	if !h.cursors.get("app").Failed {
		t.Fatal("not marked failed")
	}
	if _, err := h.d.Redeliver(context.Background(), "nope"); !errors.Is(err, ErrUnknownEndpoint) {
		t.Fatalf("Redeliver(unknown) = %v", err)
	}
	<-up
	up <- true
	names, err := h.d.Redeliver(context.Background(), "")
	if err != nil || !slices.Equal(names, []string{"app"}) {
		t.Fatalf("Redeliver = %v, %v", names, err)
	}
	waitFor(t, "delivery after redeliver", func() bool { return h.cursors.get("app").Seq == 2 })
	if got := seqsOf(r.wait(t, 3)[2:]); !slices.Equal(got, upTo(2)) {
		t.Fatalf("delivered %v", got)
	}
	if h.cursors.get("app").Failed {
		t.Fatal("still failed")
	}
}

// TestResumesFromStoredCursor: a restart resumes after the recorded
// sequence number; a failed mark survives it (the first request is the
// probe).
func TestResumesFromStoredCursor(t *testing.T) {
	r, srv := newReceiver(t, ok)
	cursors := newFakeCursors()
	cursors.m["app"] = storeCursor("app", 3)
	h := start(t, Options{Endpoints: []Endpoint{endpoint(t, "app", srv.URL)}, Cursors: cursors})
	h.log.add("delivered", 5)
	waitFor(t, "cursor 5", func() bool { return cursors.get("app").Seq == 5 })
	if got := seqsOf(r.wait(t, 1)); !slices.Equal(got, []uint64{4, 5}) {
		t.Fatalf("delivered %v, want [4 5]", got)
	}
}

// TestTypesFilter: an endpoint gets only its types; the cursor passes the
// others.
func TestTypesFilter(t *testing.T) {
	r, srv := newReceiver(t, ok)
	ep := endpoint(t, "app", srv.URL)
	ep.Types = []string{"bounced"}
	h := start(t, Options{Endpoints: []Endpoint{ep}})
	h.log.add("delivered", 2)
	h.log.add("bounced", 1)
	h.log.add("delivered", 2)
	h.log.add("bounced", 1)
	waitFor(t, "cursor 6", func() bool { return h.cursors.get("app").Seq == 6 })
	if got := seqsOf(r.wait(t, 1)); !slices.Equal(got, []uint64{3, 6}) {
		t.Fatalf("delivered %v, want [3 6]", got)
	}
}

// TestStuckEndpointDoesNotHoldUpAnother: one endpoint that never answers
// does not delay the other.
func TestStuckEndpointDoesNotHoldUpAnother(t *testing.T) {
	release := make(chan struct{})
	_, stuck := newReceiver(t, func(int, http.ResponseWriter) { <-release })
	defer close(release)
	r, srv := newReceiver(t, ok)
	h := start(t, Options{Endpoints: []Endpoint{endpoint(t, "stuck", stuck.URL), endpoint(t, "app", srv.URL)}})
	h.log.add("delivered", 3)
	waitFor(t, "app's cursor", func() bool { return h.cursors.get("app").Seq == 3 })
	if got := seqsOf(r.wait(t, 1)); !slices.Equal(got, upTo(3)) {
		t.Fatalf("delivered %v", got)
	}
}

// TestLingerGathersABatch: a short page waits Linger for more events, so
// events committed meanwhile go in the same request.
func TestLingerGathersABatch(t *testing.T) {
	r, srv := newReceiver(t, ok)
	h := start(t, Options{Endpoints: []Endpoint{endpoint(t, "app", srv.URL)}, Linger: time.Second})
	h.log.add("accepted", 2)
	if d := h.clock.sleep(t); d != time.Second {
		t.Fatalf("linger = %v, want 1s", d)
	}
	h.log.add("delivered", 3)
	h.clock.Advance(time.Second)
	waitFor(t, "cursor 5", func() bool { return h.cursors.get("app").Seq == 5 })
	if calls := r.wait(t, 1); len(calls) != 1 || !slices.Equal(calls[0].seqs, upTo(5)) {
		t.Fatalf("calls %v, want one with 1..5", seqsOf(calls))
	}
}

// TestCursorWritesCoalesce: a run of acknowledged requests writes the
// cursor once when due and once when the endpoint goes idle, not once per
// request.
func TestCursorWritesCoalesce(t *testing.T) {
	r, srv := newReceiver(t, ok)
	h := start(t, Options{Endpoints: []Endpoint{endpoint(t, "app", srv.URL)}, MaxBatch: 1})
	h.log.add("delivered", 5)
	waitFor(t, "cursor 5", func() bool { return h.cursors.get("app").Seq == 5 })
	if got := seqsOf(r.wait(t, 5)); !slices.Equal(got, upTo(5)) {
		t.Fatalf("delivered %v", got)
	}
	h.cursors.mu.Lock()
	puts := h.cursors.puts
	h.cursors.mu.Unlock()
	if puts != 2 {
		t.Fatalf("%d cursor writes for 5 requests in one instant, want 2 (the first, due; the idle flush)", puts)
	}
}
