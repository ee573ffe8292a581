package admin

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// Events is the spool's event log as the "events" operation reads it;
// *store.DB satisfies it.
type Events interface {
	Events(ctx context.Context, after uint64, limit int) ([]store.Event, error)
	// EventsAfter returns a channel closed once an event numbered above
	// after is committed (at once when one is).
	EventsAfter(after uint64) <-chan struct{}
}

var _ Events = (*store.DB)(nil)

// MaxEventsWait bounds the long poll of the "events" operation, well
// within a client's patience and the daemon's shutdown.
const MaxEventsWait = time.Minute

// eventsRequest asks for the events numbered above After, at most Limit
// (0: store.MaxEventsPage); with Wait, an empty answer waits that long
// for one.
type eventsRequest struct {
	After uint64 `json:"after,omitempty"`
	Limit int    `json:"limit,omitempty"`
	Wait  string `json:"wait,omitempty"` // a Go duration: "30s"
}

func (r *eventsRequest) validate() error {
	if r.Limit < 0 || r.Limit > store.MaxEventsPage {
		return fmt.Errorf("limit must be from 0 to %d", store.MaxEventsPage)
	}
	if _, err := r.wait(); err != nil {
		return err
	}
	return nil
}

func (r *eventsRequest) wait() (time.Duration, error) {
	if r.Wait == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(r.Wait)
	if err != nil || d < 0 || d > MaxEventsWait {
		return 0, fmt.Errorf("wait must be a duration from 0s to %v", MaxEventsWait)
	}
	return d, nil
}

// eventsResponse carries the events (store.Event's JSON, the public
// shape) and Next, the After of the next request.
type eventsResponse struct {
	Events []store.Event `json:"events"`
	Next   uint64        `json:"next"`
}

// events serves the "events" operation: every message's events, as the
// operator sees every message.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	var req eventsRequest
	if !s.decode(w, r, &req) {
		return
	}
	if s.opts.Events == nil {
		s.writeJSON(w, http.StatusNotFound, errorResponse{Error: "this daemon keeps no event log", Code: codeNotFound})
		return
	}
	wait, _ := req.wait()
	ctx := r.Context()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		evs, err := s.opts.Events.Events(ctx, req.After, req.Limit)
		if err != nil {
			s.fail(w, "events", "", err)
			return
		}
		if len(evs) > 0 || wait == 0 {
			resp := eventsResponse{Events: evs, Next: req.After}
			if len(evs) > 0 {
				resp.Next = evs[len(evs)-1].Seq
			} else {
				resp.Events = []store.Event{}
			}
			s.reply(w, resp)
			return
		}
		select {
		case <-s.opts.Events.EventsAfter(req.After):
			continue
		case <-timer.C:
		case <-s.closing:
		case <-ctx.Done():
			return
		}
		wait = 0 // answer what there is, now
	}
}

// Events returns up to limit events numbered above after (0: as many as
// the daemon gives) and the after of the next call; with wait, an empty
// answer waits up to wait (at most MaxEventsWait) for one.
func (c *Client) Events(ctx context.Context, after uint64, limit int, wait time.Duration) ([]store.Event, uint64, error) {
	req := &eventsRequest{After: after, Limit: limit}
	if wait > 0 {
		req.Wait = wait.String()
	}
	var resp eventsResponse
	if err := c.call(ctx, "events", req, &resp); err != nil {
		return nil, after, err
	}
	return resp.Events, resp.Next, nil
}
