package admin

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// Stats is the answer of POST /v1/stats (`outbox queue stats`): the spool
// counted by recipient state and by destination domain, store.Stats as the
// API shows it.
type Stats struct {
	Messages int            `json:"messages"` // message records, finished ones included
	Pending  int            `json:"pending"`  // messages with a recipient queued or deferred (not only held)
	ByState  map[string]int `json:"by_state"` // recipients by state name
	// ByDomain counts the recipients not yet final (queued, deferred,
	// held) per destination domain, most first.
	ByDomain []DomainStats `json:"by_domain"`
	// Oldest is the reception time of the oldest pending message; zero
	// (omitted) when none.
	Oldest time.Time `json:"oldest,omitzero"`
	// OldestID is that message's ID.
	OldestID string `json:"oldest_id,omitempty"`
	// Now is the daemon's clock when counting, for the oldest's age.
	Now time.Time `json:"now"`
	// Quarantined counts the messages set aside as unreadable (not in
	// Messages): never attempted, waiting for an operator.
	Quarantined int `json:"quarantined"`
	// Dispatch is the state of delivery; omitted when the server has no
	// Server.Dispatch.
	Dispatch *DispatchStatus `json:"dispatch,omitempty"`
	// Ages is the table of domains by age (ages.go), when asked for.
	Ages *Ages `json:"ages,omitempty"`
	// Throttled lists the destinations traffic shaping holds back now:
	// suspended, slowed after a reply, rate-limited (explain.go).
	Throttled []Throttle `json:"throttled,omitempty"`
}

// DispatchStatus says whether delivery is paused because the spool
// refuses commits, and how many outcomes could not be recorded.
type DispatchStatus struct {
	// Paused: no delivery starts until a commit succeeds again.
	Paused bool `json:"paused"`
	// Since and Reason (the last commit error) are set while paused.
	Since  time.Time `json:"since,omitzero"`
	Reason string    `json:"reason,omitempty"`
	// CommitFailures counts delivery outcomes the spool could not record
	// since the daemon started.
	CommitFailures uint64 `json:"commit_failures"`
	// CommitBackoff is the number of messages waiting out the back-off
	// that follows such a failure.
	CommitBackoff int `json:"commit_backoff"`
}

// DomainStats is one destination domain of Stats.ByDomain.
type DomainStats struct {
	Domain   string `json:"domain"`
	Queued   int    `json:"queued"`
	Deferred int    `json:"deferred"`
	Held     int    `json:"held"`
}

// Total is the domain's recipients not yet final.
func (d DomainStats) Total() int { return d.Queued + d.Deferred + d.Held }

type statsRequest struct {
	Ages bool `json:"ages,omitempty"` // add the age table (a pass over the spool)
}

func (*statsRequest) validate() error { return nil }

// stats serialises the spool's count (store.Stats, kept by the store as
// it commits: no record is read here) with the state of delivery.
func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	var req statsRequest
	if !s.decode(w, r, &req) {
		return
	}
	ss, err := s.opts.Queue.SpoolStats(r.Context())
	if err != nil {
		s.fail(w, "stats", "", err)
		return
	}
	res := wireStats(ss, time.Now())
	if req.Ages {
		a, err := s.ages(r.Context(), res.Now)
		if err != nil {
			s.fail(w, "stats", "", err)
			return
		}
		res.Ages = &a
	}
	if s.opts.Dispatch != nil {
		d := s.opts.Dispatch()
		res.Dispatch = &d
	}
	if s.opts.Throttles != nil {
		res.Throttled = s.opts.Throttles()
	}
	s.reply(w, res)
}

// wireStats is ss as the API shows it: states by name, domains most
// recipients first.
func wireStats(ss store.Stats, now time.Time) Stats {
	res := Stats{
		Messages:    ss.Messages,
		Pending:     ss.Pending,
		ByState:     make(map[string]int, len(ss.Recipients)),
		ByDomain:    make([]DomainStats, 0, len(ss.Domains)),
		Oldest:      ss.OldestPending,
		OldestID:    ss.OldestPendingID,
		Now:         now,
		Quarantined: ss.Quarantined,
	}
	for st, n := range ss.Recipients {
		res.ByState[st.String()] = n
	}
	for dom, n := range ss.Domains {
		res.ByDomain = append(res.ByDomain, DomainStats{Domain: dom, Queued: n.Queued, Deferred: n.Deferred, Held: n.Held})
	}
	slices.SortFunc(res.ByDomain, func(a, b DomainStats) int {
		if a.Total() != b.Total() {
			return b.Total() - a.Total()
		}
		return strings.Compare(a.Domain, b.Domain)
	})
	return res
}
