package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// lineCounter counts the log lines written to it.
type lineCounter struct{ n atomic.Int64 }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.n.Add(int64(bytes.Count(p, []byte("\n"))))
	return len(p), nil
}

// TestWatchdog checks that pings follow the liveness check: a passing check
// pings, a failing or stuck one does not (and a stuck one is not started
// again on every tick).
func TestWatchdog(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	tests := []struct {
		name      string
		check     func(ctx context.Context) error
		pings     bool
		maxChecks int64 // 0: no limit
	}{
		{name: "healthy", check: func(context.Context) error { return nil }, pings: true},
		{name: "failing", check: func(context.Context) error { return errors.New("store closed") }},
		{name: "stuck", check: func(context.Context) error { <-release; return nil }, maxChecks: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pings, checks atomic.Int64
			logged := new(lineCounter)
			w := &watchdog{
				Interval: 20 * time.Millisecond,
				Check: func(ctx context.Context) error {
					checks.Add(1)
					return tt.check(ctx)
				},
				Ping: func() error { pings.Add(1); return nil },
				Log:  slog.New(slog.NewTextHandler(logged, nil)),
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { w.run(ctx); close(done) }()
			// Three ticks' outcomes: pinged, or logged as failed.
			waitUntil(t, "three watchdog ticks", func() bool { return pings.Load()+logged.n.Load() >= 3 })
			cancel()
			<-done
			switch {
			case tt.pings && pings.Load() < 3:
				t.Errorf("%d pings, want 3 or more", pings.Load())
			case !tt.pings && pings.Load() != 0:
				t.Errorf("%d pings, want none", pings.Load())
			}
			if tt.maxChecks > 0 && checks.Load() > tt.maxChecks {
				t.Errorf("%d checks started, want at most %d", checks.Load(), tt.maxChecks)
			}
		})
	}
}

func TestWatchdogRecovers(t *testing.T) {
	var healthy atomic.Bool
	var pings, checks atomic.Int64
	w := &watchdog{
		Interval: 20 * time.Millisecond,
		Check: func(context.Context) error {
			checks.Add(1)
			if healthy.Load() {
				return nil
			}
			return errors.New("not yet")
		},
		Ping: func() error { pings.Add(1); return nil },
		Log:  slog.New(slog.NewTextHandler(new(lineCounter), nil)),
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.run(ctx)
	waitUntil(t, "a failed check", func() bool { return checks.Load() >= 1 })
	if pings.Load() != 0 {
		t.Fatal("pinged while unhealthy")
	}
	healthy.Store(true)
	waitUntil(t, "a ping after recovery", func() bool { return pings.Load() > 0 })
}

// waitUntil polls cond until it holds, failing the test after 5s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
