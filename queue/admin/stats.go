package admin

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// Stats is the answer of POST /v1/stats (`outbox queue stats`): the spool
// counted by recipient state and by destination domain.
type Stats struct {
	Messages int            `json:"messages"` // message records, finished ones included
	Pending  int            `json:"pending"`  // messages with a recipient awaiting delivery
	ByState  map[string]int `json:"by_state"` // recipients by state name
	// ByDomain counts the recipients not yet final (queued, deferred,
	// held) per destination domain, most first.
	ByDomain []DomainStats `json:"by_domain"`
	// Oldest is the reception time of the oldest message awaiting
	// delivery; zero (omitted) when none.
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

type statsRequest struct{}

func (*statsRequest) validate() error { return nil }

// statsCounter accumulates Stats over pages of messages.
type statsCounter struct {
	s       Stats
	domains map[string]*DomainStats
}

func newStatsCounter(now time.Time) *statsCounter {
	return &statsCounter{s: Stats{ByState: map[string]int{}, Now: now}, domains: map[string]*DomainStats{}}
}

func (c *statsCounter) add(m *store.Message) {
	c.s.Messages++
	for _, r := range m.Recipients {
		c.s.ByState[r.State.String()]++
		if r.State.Final() {
			continue
		}
		dom := strings.ToLower(r.Addr[strings.LastIndexByte(r.Addr, '@')+1:])
		d := c.domains[dom]
		if d == nil {
			d = &DomainStats{Domain: dom}
			c.domains[dom] = d
		}
		switch r.State {
		case store.StateQueued:
			d.Queued++
		case store.StateDeferred:
			d.Deferred++
		case store.StateHeld:
			d.Held++
		}
	}
	if !m.Done() {
		c.s.Pending++
		if c.s.Oldest.IsZero() || m.Received.Before(c.s.Oldest) {
			c.s.Oldest, c.s.OldestID = m.Received, m.ID
		}
	}
}

func (c *statsCounter) result() Stats {
	c.s.ByDomain = make([]DomainStats, 0, len(c.domains))
	for _, d := range c.domains {
		c.s.ByDomain = append(c.s.ByDomain, *d)
	}
	slices.SortFunc(c.s.ByDomain, func(a, b DomainStats) int {
		if a.Total() != b.Total() {
			return b.Total() - a.Total()
		}
		return strings.Compare(a.Domain, b.Domain)
	})
	return c.s
}

// stats pages through the whole spool (finished messages included) with
// List. It is an operator's command: it reads every record once, in pages
// so no read transaction stays open long.
func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	var req statsRequest
	if !s.decode(w, r, &req) {
		return
	}
	c := newStatsCounter(time.Now())
	f := store.Filter{Done: true, Limit: store.MaxListLimit}
	for {
		page, err := s.Queue.List(r.Context(), f)
		if err != nil {
			s.fail(w, "stats", "", err)
			return
		}
		for _, m := range page {
			c.add(m)
		}
		if len(page) < f.Limit {
			break
		}
		f.After = page[len(page)-1].ID
	}
	qs, err := s.Queue.Quarantined(r.Context())
	if err != nil {
		s.fail(w, "stats", "", err)
		return
	}
	res := c.result()
	res.Quarantined = len(qs)
	if s.Dispatch != nil {
		d := s.Dispatch()
		res.Dispatch = &d
	}
	s.reply(w, res)
}
