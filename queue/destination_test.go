package queue

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/store"
)

// failingDownList is a shared down list whose database is away.
type failingDownList struct{ err error }

func (f failingDownList) Down(context.Context, string, time.Time) (time.Time, string, bool, error) {
	return time.Time{}, "", false, f.err
}
func (f failingDownList) SetDown(context.Context, string, time.Time, string, time.Time) error {
	return f.err
}
func (f failingDownList) ClearDown(context.Context, string) error           { return f.err }
func (f failingDownList) CountDown(context.Context, time.Time) (int, error) { return 0, f.err }

// TestDownListUnavailableDefers: when the shared down list cannot be
// read, the queue does not attempt the destination (another node may
// have found it down): the recipient is deferred, saying why.
func TestDownListUnavailableDefers(t *testing.T) {
	opts := testOptions()
	opts.DownList = failingDownList{errors.New("connection refused")}
	h := newHarness(t, opts)
	id := h.add("app@here.test", "a@x.test")
	h.start()
	h.waitState(id, "a@x.test", store.StateDeferred)
	if n := h.del.count(); n != 0 {
		t.Errorf("%d attempts with the down list unavailable, want none", n)
	}
	m, err := h.fs.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	r := m.Recipients[0]
	if !r.NextAttempt.Equal(t0.Add(downUnavailable)) || !strings.Contains(r.LastReply, "could not be read") {
		t.Errorf("deferred to %v with %q, want %v and the reason", r.NextAttempt, r.LastReply, t0.Add(downUnavailable))
	}
}

// TestSuccessClearsDownDestination: a delivery that gets through clears
// its destination's back-off (set meanwhile by another attempt or node).
func TestSuccessClearsDownDestination(t *testing.T) {
	h := newHarness(t, testOptions())
	h.del.set(func(_ context.Context, env *delivery.Envelope) *delivery.Result {
		h.q.dest.set(context.Background(), "x.test", t0.Add(time.Hour), "refused", t0)
		return result(env, delivery.Delivered, ok250)
	})
	id := h.add("app@here.test", "a@x.test")
	h.start()
	h.waitState(id, "a@x.test", store.StateDelivered)
	waitFor(t, "x.test's back-off cleared", func() bool {
		_, down := h.q.dest.down(context.Background(), "x.test", t0)
		return !down
	})
}
