package admin

import (
	"context"
	"net/http"
	"time"
)

// Explanation is why one pending recipient waits: the answer of POST
// /v1/explain (`outbox queue explain ID`) per recipient, and the explain
// field of `queue show --json`.
type Explanation struct {
	Rcpt  string `json:"rcpt"`
	State string `json:"state"`
	// Reason is one of: held, scheduled, in-flight, connection-limited,
	// suspended, throttled, rate-limited, destination-down, dns-failing,
	// backoff, waiting (not attempted yet), due, shaping-unavailable (the
	// shared shaping state could not be read).
	Reason string `json:"reason"`
	// Until is when it is next considered; omitted when it waits for an
	// event (a release, a connection freeing).
	Until time.Time `json:"until,omitzero"`
	// Since is when the cause began (a slow-down, a suspension, an
	// attempt in progress), when known.
	Since time.Time `json:"since,omitzero"`
	// Rule is the shaping budget involved (rule name or domain).
	Rule string `json:"rule,omitempty"`
	// Reply is the remote reply behind the wait.
	Reply    string    `json:"reply,omitempty"`
	Attempts int       `json:"attempts"`
	Expires  time.Time `json:"expires,omitzero"`
	// Sentence says it in words an operator can act on.
	Sentence string `json:"sentence"`
	// Shared: the state behind the wait (a shaping budget, a destination's
	// back-off) is every node's, kept in the shared database, not only
	// the answering node's.
	Shared bool `json:"shared,omitempty"`
}

// Throttle is one destination traffic shaping holds back (Stats.Throttled).
type Throttle struct {
	Destination string `json:"destination"` // rule name or domain
	Rule        string `json:"rule,omitempty"`
	// State is suspended, throttled (rate lowered after a reply),
	// rate-limited or connection-limited.
	State    string    `json:"state"`
	Since    time.Time `json:"since,omitzero"`
	Until    time.Time `json:"until,omitzero"` // end of a suspension
	Reply    string    `json:"reply,omitempty"`
	Reaction string    `json:"reaction,omitempty"`
	// PerMinute is the rate in effect; 0 none.
	PerMinute float64 `json:"per_minute"`
	InFlight  int     `json:"in_flight"`
	Parked    int     `json:"waiting_for_connection"`
	Reserved  int     `json:"deferred_to_slot"`
	// Shared: the state is every node's (Since, Until, PerMinute,
	// InFlight and Reserved count them all); Parked is this node's.
	Shared bool `json:"shared,omitempty"`
}

type explainResponse struct {
	ID         string        `json:"id"`
	Recipients []Explanation `json:"recipients"`
}

func (s *Server) explain(w http.ResponseWriter, r *http.Request) {
	var req idRequest
	if !s.decode(w, r, &req) {
		return
	}
	if s.opts.Explain == nil {
		s.writeJSON(w, http.StatusNotImplemented, errorResponse{Error: "explain is not available"})
		return
	}
	es, err := s.opts.Explain(r.Context(), req.ID)
	if err != nil {
		s.fail(w, "explain", req.ID, err)
		return
	}
	if es == nil {
		es = []Explanation{}
	}
	s.reply(w, explainResponse{ID: req.ID, Recipients: es})
}

// Explain asks why each pending recipient of message id waits.
func (c *Client) Explain(ctx context.Context, id string) ([]Explanation, error) {
	var resp explainResponse
	if err := c.call(ctx, "explain", &idRequest{ID: id}, &resp); err != nil {
		return nil, err
	}
	return resp.Recipients, nil
}
