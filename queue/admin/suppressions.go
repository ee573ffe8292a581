package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// SuppressionList is the suppression list as the admin server manages it;
// *store.DB satisfies it (cmd wires it as Options.Suppressions).
type SuppressionList interface {
	Suppressions(ctx context.Context, after string, limit int) ([]store.Suppression, error)
	Suppress(ctx context.Context, s store.Suppression) (store.Suppression, error)
	Unsuppress(ctx context.Context, addr string) error
}

// Suppression is one suppression-list entry on the wire: the admin
// socket's, the CLI's --json output and the HTTP API's (queue/httpapi),
// one shape for all three.
type Suppression struct {
	Address   string    `json:"address"`
	Reason    string    `json:"reason"` // bounce, expirations or manual
	Reply     string    `json:"reply,omitempty"`
	MessageID string    `json:"message_id,omitempty"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires,omitzero"`
	Active    bool      `json:"active"`
}

// NewSuppression is the wire form of s at now.
func NewSuppression(s store.Suppression, now time.Time) Suppression {
	return Suppression{Address: s.Addr, Reason: s.Reason.String(), Reply: s.Reply, MessageID: s.MsgID,
		Created: s.Created.UTC(), Expires: s.Expires.UTC(), Active: s.Active(now)}
}

// maxSuppressionPage bounds one page of the list.
const maxSuppressionPage = 1000

type suppressionsRequest struct {
	After string `json:"after,omitempty"`
	Limit int    `json:"limit,omitempty"` // 0: all
}

func (r *suppressionsRequest) validate() error {
	if r.Limit < 0 || r.Limit > maxSuppressionPage {
		return fmt.Errorf("limit must be 0 (all) to %d", maxSuppressionPage)
	}
	return nil
}

type suppressionsResponse struct {
	Suppressions []Suppression `json:"suppressions"`
}

// SuppressRequest adds a manual entry.
type SuppressRequest struct {
	Address string    `json:"address"`
	Note    string    `json:"note,omitempty"`
	Expires time.Time `json:"expires,omitzero"` // zero: never
}

func (r *SuppressRequest) validate() error {
	if store.NormalizeAddress(r.Address) == "" {
		return fmt.Errorf("address %q is not local@domain", r.Address)
	}
	if len(r.Note) > 1000 {
		return errors.New("note longer than 1000 bytes")
	}
	return nil
}

type unsuppressRequest struct {
	Address string `json:"address"`
}

func (r *unsuppressRequest) validate() error {
	if store.NormalizeAddress(r.Address) == "" {
		return fmt.Errorf("address %q is not local@domain", r.Address)
	}
	return nil
}

func (s *Server) suppressions(w http.ResponseWriter, r *http.Request) {
	var req suppressionsRequest
	if !s.decode(w, r, &req) {
		return
	}
	list, err := s.opts.Suppressions.Suppressions(r.Context(), req.After, req.Limit)
	if err != nil {
		s.fail(w, "suppressions", "", err)
		return
	}
	now := time.Now()
	resp := suppressionsResponse{Suppressions: make([]Suppression, len(list))}
	for i, e := range list {
		resp.Suppressions[i] = NewSuppression(e, now)
	}
	s.reply(w, resp)
}

func (s *Server) suppress(w http.ResponseWriter, r *http.Request) {
	var req SuppressRequest
	if !s.decode(w, r, &req) {
		return
	}
	e, err := s.opts.Suppressions.Suppress(r.Context(), store.Suppression{Addr: req.Address, Reason: store.ReasonManual,
		Reply: req.Note, Expires: req.Expires})
	if err != nil {
		s.fail(w, "suppress", "", err)
		return
	}
	s.log.Info("suppression added", "addr", e.Addr, "expires", e.Expires)
	s.reply(w, NewSuppression(e, time.Now()))
}

func (s *Server) unsuppress(w http.ResponseWriter, r *http.Request) {
	var req unsuppressRequest
	if !s.decode(w, r, &req) {
		return
	}
	err := s.opts.Suppressions.Unsuppress(r.Context(), req.Address)
	if errors.Is(err, store.ErrNotFound) {
		s.writeJSON(w, http.StatusNotFound, errorResponse{Error: "not suppressed: " + req.Address, Code: codeNotFound})
		return
	}
	if err != nil {
		s.fail(w, "unsuppress", "", err)
		return
	}
	s.log.Info("suppression removed", "addr", store.NormalizeAddress(req.Address))
	s.reply(w, struct{}{})
}

// Suppressions lists the suppression list in address order: up to limit
// entries (0: all) after the address after.
func (c *Client) Suppressions(ctx context.Context, after string, limit int) ([]Suppression, error) {
	var resp suppressionsResponse
	err := c.call(ctx, "suppressions", &suppressionsRequest{After: after, Limit: limit}, &resp)
	return resp.Suppressions, err
}

// Suppress adds (or replaces) a manual entry and returns it as stored.
func (c *Client) Suppress(ctx context.Context, req SuppressRequest) (Suppression, error) {
	var resp Suppression
	err := c.call(ctx, "suppress", &req, &resp)
	return resp, err
}

// Unsuppress removes addr's entry; an error matching store.ErrNotFound
// when it has none.
func (c *Client) Unsuppress(ctx context.Context, addr string) error {
	return c.call(ctx, "unsuppress", &unsuppressRequest{Address: addr}, &struct{}{})
}
