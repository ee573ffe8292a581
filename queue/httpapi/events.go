package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// Events is the event log for GET /v1/events; *store.DB satisfies it.
type Events interface {
	// Events returns up to limit events numbered above after, oldest
	// first.
	Events(ctx context.Context, after uint64, limit int) ([]store.Event, error)
	// EventsAfter returns a channel closed once an event numbered above
	// after is committed (at once when one is).
	EventsAfter(after uint64) <-chan struct{}
}

var _ Events = (*store.DB)(nil)

// Bounds of GET /v1/events.
const (
	DefaultEventsLimit = 100
	// MaxEventsWait bounds the long poll; the write timeout bounds it
	// further (eventsWait).
	MaxEventsWait = 5 * time.Minute
)

// eventsResponse is the body of GET /v1/events. Next is the number to
// pass as after in the next request: the last event returned, or past
// the events of other clients that were skipped, so no event is read
// twice and none is missed.
type eventsResponse struct {
	Events []store.Event `json:"events"`
	Next   uint64        `json:"next"`
}

// eventsQuery is a parsed GET /v1/events request.
type eventsQuery struct {
	after uint64
	limit int
	wait  time.Duration
}

// parseEventsQuery reads after, limit and wait, naming the field at fault.
func (s *Server) parseEventsQuery(r *http.Request) (eventsQuery, *fieldError) {
	q := eventsQuery{limit: DefaultEventsLimit}
	v := r.URL.Query()
	if a := v.Get("after"); a != "" {
		n, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			return q, fieldErr("after", "must be a sequence number (a non-negative integer)")
		}
		q.after = n
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > store.MaxEventsPage {
			return q, fieldErr("limit", "must be an integer from 1 to %d", store.MaxEventsPage)
		}
		q.limit = n
	}
	if w := v.Get("wait"); w != "" {
		d, err := time.ParseDuration(w)
		if err != nil {
			// Plain seconds too: wait=30.
			n, nerr := strconv.ParseUint(w, 10, 32)
			if nerr != nil {
				return q, fieldErr("wait", "must be a duration (\"30s\") or a number of seconds")
			}
			d = time.Duration(n) * time.Second
		}
		if d < 0 || d > s.eventsWait() {
			return q, fieldErr("wait", "must be from 0s to %v", s.eventsWait())
		}
		q.wait = d
	}
	return q, nil
}

// eventsWait is the longest long poll: MaxEventsWait, or less when the
// server's write timeout would cut the answer off first.
func (s *Server) eventsWait() time.Duration {
	return max(0, min(MaxEventsWait, s.srv.WriteTimeout-10*time.Second))
}

// getEvents is GET /v1/events: the events numbered above after of the
// client's own messages (as GET /v1/messages/{id} shows only those), at
// most limit. With wait, an empty answer is held until such an event is
// committed, the wait ends or the server shuts down; then it answers at
// once, empty or not.
func (s *Server) getEvents(w http.ResponseWriter, r *http.Request) {
	q, fe := s.parseEventsQuery(r)
	if fe != nil {
		writeError(w, http.StatusBadRequest, fe.field, fe.msg)
		return
	}
	who := client(r.Context())
	ctx := r.Context()
	var timeout <-chan time.Time
	if q.wait > 0 {
		t := time.NewTimer(q.wait)
		defer t.Stop()
		timeout = t.C
	}
	resp := eventsResponse{Events: []store.Event{}, Next: q.after}
	for {
		// Whole pages, since other clients' events are skipped; the
		// answer stops at limit events of the client's own.
		evs, err := s.opts.Events.Events(ctx, resp.Next, store.MaxEventsPage)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("cannot read the event log", "err", err)
				writeError(w, http.StatusServiceUnavailable, "", "the event log could not be read; retry later")
			}
			return
		}
		for _, e := range evs {
			if e.User == who {
				if len(resp.Events) == q.limit {
					break
				}
				resp.Events = append(resp.Events, e)
			}
			resp.Next = e.Seq
		}
		if len(resp.Events) > 0 {
			break
		}
		if len(evs) > 0 {
			continue // only other clients' events: read on
		}
		if q.wait == 0 {
			break
		}
		if !s.await(ctx, resp.Next, timeout) {
			break
		}
	}
	if ctx.Err() == nil {
		writeJSON(w, http.StatusOK, resp)
	}
}

// await waits for an event numbered above after and reports whether one
// came, rather than the timeout, a shutdown or the client's going away.
func (s *Server) await(ctx context.Context, after uint64, timeout <-chan time.Time) bool {
	s.polling.Add(1)
	defer s.polling.Add(-1)
	select {
	case <-s.opts.Events.EventsAfter(after):
		return true
	case <-timeout:
	case <-s.shutdown:
	case <-ctx.Done():
	}
	return false
}

// pollers is the number of long polls waiting now.
func (s *Server) pollers() int64 { return s.polling.Load() }
