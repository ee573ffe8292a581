package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/store"
)

// Shutdown lets an in-flight delivery finish and records it.
func TestShutdownDrains(t *testing.T) {
	h := newHarness(t, testOptions())
	release := make(chan struct{})
	h.del.set(func(_ context.Context, env *delivery.Envelope) *delivery.Result {
		<-release
		return result(env, delivery.Delivered, ok250)
	})
	id := h.add("app@here.test", "a@x.test")
	runErr := make(chan error, 1)
	go func() { runErr <- h.q.Run(context.Background()) }()
	waitFor(t, "in flight", func() bool { return h.q.Stats().InFlight == 1 })

	shut := make(chan error, 1)
	go func() { shut <- h.q.Shutdown(context.Background()) }()
	close(release)
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-runErr; !errors.Is(err, ErrClosed) {
		t.Fatalf("Run = %v, want ErrClosed", err)
	}
	if got := h.fs.state(id, "a@x.test"); got != store.StateDelivered {
		t.Errorf("drained delivery not recorded: %v", got)
	}
}

func TestShutdownDeadlineAbandons(t *testing.T) {
	tests := []struct {
		name string
		stop func(h *harness, cancelRun context.CancelFunc) // stops the queue past its patience
		want error
	}{
		{"shutdown deadline", func(h *harness, _ context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // already past the deadline
			if err := h.q.Shutdown(ctx); !errors.Is(err, context.Canceled) {
				h.t.Errorf("Shutdown = %v, want context.Canceled", err)
			}
		}, ErrClosed},
		{"run context cancelled", func(_ *harness, cancelRun context.CancelFunc) { cancelRun() }, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, testOptions())
			h.del.set(func(ctx context.Context, env *delivery.Envelope) *delivery.Result {
				<-ctx.Done()
				res := result(env, delivery.Deferred, delivery.Reply{Text: ctx.Err().Error()})
				res.Rcpts[0].Status, res.Rcpts[0].Reply = delivery.Delivered, ok250
				return res
			})
			id := h.add("app@here.test", "got@x.test", "cut@x.test")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			runErr := make(chan error, 1)
			go func() { runErr <- h.q.Run(ctx) }()
			waitFor(t, "in flight", func() bool { return h.q.Stats().InFlight == 1 })
			tt.stop(h, cancel)
			select {
			case err := <-runErr:
				if !errors.Is(err, tt.want) {
					t.Errorf("Run = %v, want %v", err, tt.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return")
			}
			// The 250 is recorded despite the cancellation; the recipient
			// without an outcome is left due, not counted as an attempt.
			if r := h.fs.rcpt(t, id, "got@x.test"); r.State != store.StateDelivered || r.Attempts != 1 {
				t.Errorf("delivered recipient %+v", r)
			}
			if r := h.fs.rcpt(t, id, "cut@x.test"); r.State != store.StateQueued || r.Attempts != 0 || !r.NextAttempt.Equal(t0) {
				t.Errorf("abandoned recipient %+v, want queued, due, no attempt", r)
			}
		})
	}
}

func TestRunTwice(t *testing.T) {
	h := newHarness(t, testOptions())
	h.start()
	waitFor(t, "running", func() bool {
		h.q.mu.Lock()
		defer h.q.mu.Unlock()
		return h.q.running
	})
	if err := h.q.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run = %v, want ErrRunning", err)
	}
}

func TestNewValidates(t *testing.T) {
	fs := &fakeStore{}
	d := &fakeDeliverer{}
	if _, err := New(nil, d, Options{}); err == nil {
		t.Error("New without a store succeeded")
	}
	if _, err := New(fs, nil, Options{}); err == nil {
		t.Error("New without a deliverer succeeded")
	}
	if _, err := New(fs, d, Options{DSN: true}); err == nil {
		t.Error("New with DSN but no Notify succeeded")
	}
	q, err := New(fs, d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := q.opts
	if o.Workers != DefaultWorkers || !*o.AtLeastOne || o.FirstRetry != DefaultFirstRetry ||
		o.MaxRetryInterval != DefaultMaxRetryInterval || o.MaxLifetime != DefaultMaxLifetime ||
		o.Warmup != DefaultWarmup || o.WarmupRate != DefaultWorkers {
		t.Errorf("defaults %+v", o)
	}
}

// A Deliverer that breaks its contract (fewer results) defers the
// recipients it left out rather than losing them.
func TestShortResultDefers(t *testing.T) {
	h := newHarness(t, testOptions())
	h.del.set(func(_ context.Context, env *delivery.Envelope) *delivery.Result {
		res := result(env, delivery.Delivered, ok250)
		res.Rcpts = res.Rcpts[:1]
		return res
	})
	id := h.add("app@here.test", "a@x.test", "b@x.test")
	h.start()
	h.waitState(id, "b@x.test", store.StateDeferred)
	if got := h.fs.state(id, "a@x.test"); got != store.StateDelivered {
		t.Errorf("a: %v", got)
	}
}
