package queue

import (
	"errors"
	"sync"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// When the spool cannot record an attempt's outcome (a full disk, an I/O
// error: Store.Update fails), the message is still due in the spool, and
// dispatching it at once would send it again and again as fast as the
// remote server accepts it. So the queue remembers, in memory only:
//
//   - per message, a back-off after each outcome it could not commit
//     (commitRetry: 1s doubling to 5m); the dispatcher skips the message
//     until then. A later successful commit for it (or its deletion)
//     forgets it.
//   - for the whole spool, that it refuses commits (an error matching
//     store.ErrCommit, from an outcome or from Enqueue): the dispatcher
//     starts no delivery until a commit succeeds again — any outcome,
//     Enqueue or Flush, or the dispatcher's own probe (Store.Probe, an
//     empty commit) at growing intervals (commitRetry again).
//
// Both are lost on restart on purpose: the restart reopens the spool, and
// the start-up spread already softens the first attempts.

// Bounds of commitRetry.
const (
	commitRetryFirst = time.Second
	commitRetryMax   = 5 * time.Minute
)

// commitRetry is the wait after the n-th consecutive failed commit (n ≥ 1):
// commitRetryFirst doubling, capped at commitRetryMax. Pure, table-tested.
func commitRetry(n int) time.Duration {
	d := commitRetryFirst
	for i := 1; i < n && d < commitRetryMax; i++ {
		d *= 2
	}
	return min(d, commitRetryMax)
}

// spoolHealth is the in-memory state described above. Safe for concurrent
// use: workers record failures, the dispatcher reads them.
type spoolHealth struct {
	mu      sync.Mutex
	backoff map[string]backoffEntry // message ID → its commit back-off
	down    bool                    // the spool refuses commits
	since   time.Time               // when it started refusing
	reason  string                  // the last commit error
	probes  int                     // failed probes since it went down
	probeAt time.Time               // the dispatcher's next probe
}

type backoffEntry struct {
	until    time.Time
	failures int
}

// outcomeFailed records that id's outcome could not be committed at now
// and returns when id may be dispatched again; wentDown reports that this
// failure paused dispatch.
func (h *spoolHealth) outcomeFailed(id string, err error, now time.Time) (until time.Time, wentDown bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.backoff == nil {
		h.backoff = make(map[string]backoffEntry)
	}
	e := h.backoff[id]
	e.failures++
	e.until = now.Add(commitRetry(e.failures))
	h.backoff[id] = e
	return e.until, h.failedLocked(err, now)
}

// commitFailed records a failed commit that is not an outcome (Enqueue);
// it reports whether it paused dispatch.
func (h *spoolHealth) commitFailed(err error, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failedLocked(err, now)
}

func (h *spoolHealth) failedLocked(err error, now time.Time) bool {
	if !errors.Is(err, store.ErrCommit) {
		return false // this message's problem, not the spool's
	}
	h.reason = err.Error()
	if h.down {
		return false
	}
	h.down, h.since, h.probes = true, now, 0
	h.probeAt = now.Add(commitRetry(1))
	return true
}

// committed records a successful commit, for message id when not empty;
// it reports whether dispatch was paused and resumes now.
func (h *spoolHealth) committed(id string) (resumed bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if id != "" {
		delete(h.backoff, id)
	}
	resumed = h.down
	h.down = false
	return resumed
}

// forget drops id's back-off (the message is gone, or flushed).
func (h *spoolHealth) forget(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.backoff, id)
}

// waiting reports whether id is in its commit back-off at now.
func (h *spoolHealth) waiting(id string, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.backoff[id]
	return ok && now.Before(e.until)
}

// untilRelease is the wait until the earliest back-off ending after now;
// negative when none.
func (h *spoolHealth) untilRelease(now time.Time) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	wait := time.Duration(-1)
	for _, e := range h.backoff {
		if d := e.until.Sub(now); d > 0 && (wait < 0 || d < wait) {
			wait = d
		}
	}
	return wait
}

// paused reports whether dispatch is paused at now and, if so, whether the
// dispatcher should probe the spool now or wait until the next probe.
func (h *spoolHealth) paused(now time.Time) (paused, probe bool, wait time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.down {
		return false, false, 0
	}
	if !now.Before(h.probeAt) {
		return true, true, 0
	}
	return true, false, h.probeAt.Sub(now)
}

// probeFailed schedules the next probe after a failed one and returns the
// wait until it.
func (h *spoolHealth) probeFailed(err error, now time.Time) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.probes++
	h.reason = err.Error()
	d := commitRetry(h.probes + 1)
	h.probeAt = now.Add(d)
	return d
}

// healthStats is the part of Stats this state answers.
type healthStats struct {
	paused  bool
	since   time.Time
	reason  string
	backoff int
}

func (h *spoolHealth) stats(now time.Time) healthStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := healthStats{paused: h.down}
	if h.down {
		s.since, s.reason = h.since, h.reason
	}
	for _, e := range h.backoff {
		if now.Before(e.until) {
			s.backoff++
		}
	}
	return s
}

// logPaused is the one ERROR line of a pause.
func (q *Queue) logPaused(err error) {
	q.log.Error("spool refuses commits: delivery paused until a commit succeeds", "err", err)
}

// commitOK records a successful commit (for message id, if not empty) and,
// if dispatch was paused, resumes it.
func (q *Queue) commitOK(id string) {
	if q.health.committed(id) {
		q.log.Info("spool accepts commits again: delivery resumes")
		q.Wake()
	}
}

// outcomeNotCommitted handles an attempt whose outcome could not be
// recorded: the message waits out its back-off, and a spool-wide failure
// pauses dispatch.
func (q *Queue) outcomeNotCommitted(id string, err error) {
	q.st.commitFailures.Add(1)
	until, wentDown := q.health.outcomeFailed(id, err, q.clock.Now())
	// Delivered recipients not recorded will be sent again: the
	// at-least-once duplicate, which is why this is an error.
	q.log.Error("cannot record delivery outcome; recipients stay due", "msgid", id, "err", err, "retry_after", until)
	if wentDown {
		q.logPaused(err)
	}
}
