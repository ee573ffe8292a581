package queue

import (
	"slices"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// The start-up spread is for the backlog found at start-up: once it is
// worked off, new mail is dispatched at full speed for the rest of the
// window instead of WarmupRate per second.
func TestStartupSpreadEndsWhenCaughtUp(t *testing.T) {
	opts := testOptions()
	opts.Workers = 10
	opts.Warmup = time.Hour
	opts.WarmupRate = 1
	h := newHarness(t, opts)
	backlog := []string{h.add("app@here.test", "a@x.test"), h.add("app@here.test", "a@x.test")}
	h.clock.Advance(time.Hour) // both overdue
	start := h.clock.Now()
	h.start()

	// Spread: one at once, the second one token (1s) later.
	h.waitState(backlog[0], "a@x.test", store.StateDelivered)
	h.waitArmed(start.Add(time.Second))
	h.clock.Set(start.Add(time.Second))
	h.waitState(backlog[1], "a@x.test", store.StateDelivered)
	// The next look finds nothing more due: caught up, the token timer is
	// no longer armed.
	waitFor(t, "token timer disarmed", func() bool {
		return !slices.ContainsFunc(h.clock.armed(), func(at time.Time) bool { return at.Equal(start.Add(2 * time.Second)) })
	})

	var fresh []string
	for range 5 {
		fresh = append(fresh, h.add("app@here.test", "a@x.test"))
	}
	h.q.Wake()
	for _, id := range fresh { // with the clock standing still
		h.waitState(id, "a@x.test", store.StateDelivered)
	}
}
