package queue

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/store"
)

func TestCommitRetry(t *testing.T) {
	for _, tt := range []struct {
		n    int
		want time.Duration
	}{
		{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {9, 256 * time.Second},
		{10, 5 * time.Minute}, {1000, 5 * time.Minute},
	} {
		if got := commitRetry(tt.n); got != tt.want {
			t.Errorf("commitRetry(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
}

// errNoSpace is what *store.DB returns when the disk is full at a commit.
var errNoSpace = fmt.Errorf("%w: %w: %w", store.ErrCommit, store.ErrNoSpace, syscall.ENOSPC)

func (f *fakeStore) counts() (failed, probes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed, f.probes
}

// A delivered message whose outcome cannot be committed is not sent again
// at once: it waits out a back-off, dispatch pauses while the spool
// refuses commits (the condition shows in Stats), a probe finds when it
// accepts them again, and delivery resumes by itself.
func TestFailedOutcomeCommitPausesDispatch(t *testing.T) {
	h := newHarness(t, testOptions())
	id := h.add("app@here.test", "a@x.test")
	h.fs.refuseCommits(errNoSpace)
	h.start()

	waitFor(t, "the failed outcome commit", func() bool { failed, _ := h.fs.counts(); return failed >= 1 })
	// The dispatcher waits for its first probe, one second on, and for
	// nothing else: the message is not dispatched again meanwhile.
	h.waitArmed(t0.Add(time.Second))
	if n := h.del.count(); n != 1 {
		t.Fatalf("%d deliveries while the spool refuses commits, want 1", n)
	}
	s := h.q.Stats()
	if !s.DispatchPaused || !s.PausedSince.Equal(t0) || s.PauseReason == "" || s.CommitFailures != 1 || s.CommitBackoff != 1 {
		t.Errorf("Stats while paused = paused %v since %v reason %q, %d failures, %d backing off",
			s.DispatchPaused, s.PausedSince, s.PauseReason, s.CommitFailures, s.CommitBackoff)
	}

	// The probe fails: the next one is two seconds later.
	h.clock.Advance(time.Second)
	h.waitArmed(t0.Add(3 * time.Second))
	if _, probes := h.fs.counts(); probes != 1 {
		t.Errorf("%d probes, want 1", probes)
	}
	if n := h.del.count(); n != 1 {
		t.Fatalf("%d deliveries while the spool refuses commits, want 1", n)
	}

	// Space is freed: the next probe succeeds and the message, its own
	// back-off over, is delivered again (the at-least-once duplicate) and
	// recorded.
	h.fs.refuseCommits(nil)
	h.clock.Advance(2 * time.Second)
	h.waitState(id, "a@x.test", store.StateDelivered)
	if n := h.del.count(); n != 2 {
		t.Errorf("%d deliveries in all, want 2", n)
	}
	s = h.q.Stats()
	if s.DispatchPaused || s.CommitBackoff != 0 || s.CommitFailures != 1 {
		t.Errorf("Stats after recovery = paused %v, %d backing off, %d failures", s.DispatchPaused, s.CommitBackoff, s.CommitFailures)
	}
}

// A successful commit from elsewhere (here a submission) resumes dispatch
// without waiting for the probe, while the message whose outcome failed
// still waits out its own back-off.
func TestCommitResumesDispatch(t *testing.T) {
	h := newHarness(t, testOptions())
	first := h.add("app@here.test", "a@x.test")
	h.fs.refuseCommits(errNoSpace)
	h.start()
	waitFor(t, "the failed outcome commit", func() bool { failed, _ := h.fs.counts(); return failed >= 1 })
	h.waitArmed(t0.Add(time.Second))

	// While refused, a submission fails (and dispatch stays paused).
	m := &store.Message{From: "app@here.test", Recipients: []store.Recipient{{Addr: "b@y.test"}}}
	if err := submit(h.fs, h.q, m, "Subject: second\r\n\r\nhi\r\n"); err == nil {
		t.Fatal("Enqueue succeeded on a spool that refuses commits")
	}
	if !h.q.Stats().DispatchPaused {
		t.Fatal("not paused")
	}

	h.fs.refuseCommits(nil)
	if err := submit(h.fs, h.q, m, "Subject: second\r\n\r\nhi\r\n"); err != nil {
		t.Fatal(err)
	}
	h.waitState(m.ID, "b@y.test", store.StateDelivered)
	if h.q.Stats().DispatchPaused {
		t.Error("still paused after a successful commit")
	}
	if got := h.fs.state(first, "a@x.test"); got != store.StateQueued {
		t.Errorf("first message %v before its back-off ended, want still queued", got)
	}
	if n := h.del.count(); n != 2 {
		t.Errorf("%d deliveries, want 2 (one each)", n)
	}
	h.clock.Advance(time.Second)
	h.waitState(first, "a@x.test", store.StateDelivered)
}

// An outcome that fails for a reason of its own message (not the spool's)
// backs that message off without pausing delivery.
func TestFailedOutcomeOfOneMessageBacksItOff(t *testing.T) {
	h := newHarness(t, testOptions())
	id := h.add("app@here.test", "a@x.test")
	h.fs.refuseCommits(errors.New("store: write panicked: boom"))
	h.start()
	waitFor(t, "the failed outcome commit", func() bool { failed, _ := h.fs.counts(); return failed >= 1 })
	h.waitArmed(t0.Add(time.Second)) // the end of its back-off
	if n := h.del.count(); n != 1 {
		t.Fatalf("%d deliveries during the back-off, want 1", n)
	}
	if s := h.q.Stats(); s.DispatchPaused || s.CommitBackoff != 1 {
		t.Errorf("Stats = paused %v, %d backing off; want not paused, 1", s.DispatchPaused, s.CommitBackoff)
	}
	h.fs.refuseCommits(nil)
	h.clock.Advance(time.Second)
	h.waitState(id, "a@x.test", store.StateDelivered)
	if _, probes := h.fs.counts(); probes != 0 {
		t.Errorf("%d probes for a message's own failure, want 0", probes)
	}
}
