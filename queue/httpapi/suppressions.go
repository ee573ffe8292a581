package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/outbox-mta/outbox/queue/admin"
	"github.com/outbox-mta/outbox/store"
)

// Suppressions is the suppression list as the API manages it; *store.DB
// satisfies it. The list is the server's, one for every client: an
// address that does not exist does not exist for any sender.
type Suppressions interface {
	Suppressions(ctx context.Context, after string, limit int) ([]store.Suppression, error)
	Suppression(ctx context.Context, addr string) (store.Suppression, error)
	Suppress(ctx context.Context, s store.Suppression) (store.Suppression, error)
	Unsuppress(ctx context.Context, addr string) error
}

var _ Suppressions = (*store.DB)(nil)

// Bounds of the suppression endpoints.
const (
	defaultSuppressionPage = 100
	maxSuppressionPage     = 1000
	maxSuppressionNote     = 1000
	maxSuppressionBody     = 8 << 10
)

// suppressRequest is the body of POST /v1/suppressions.
type suppressRequest struct {
	Address string `json:"address"`
	// Note says why, kept as the entry's reply.
	Note string `json:"note"`
	// ExpiresAt ends the entry (RFC 3339); "": never.
	ExpiresAt string `json:"expires_at"`
}

type suppressionsResponse struct {
	Suppressions []admin.Suppression `json:"suppressions"`
	Next         string              `json:"next,omitempty"`
}

// listSuppressions is GET /v1/suppressions?after=ADDR&limit=N: a page in
// address order; next is the after of the following page.
func (s *Server) listSuppressions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := defaultSuppressionPage
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxSuppressionPage {
			writeError(w, http.StatusBadRequest, "limit", "must be 1 to "+strconv.Itoa(maxSuppressionPage))
			return
		}
		limit = n
	}
	list, err := s.opts.Suppressions.Suppressions(r.Context(), q.Get("after"), limit+1)
	if err != nil {
		s.unavailable(w, "list suppressions", err)
		return
	}
	resp := suppressionsResponse{Suppressions: make([]admin.Suppression, 0, min(len(list), limit))}
	if len(list) > limit {
		list = list[:limit]
		resp.Next = list[limit-1].Addr
	}
	now := s.opts.Now()
	for _, e := range list {
		resp.Suppressions = append(resp.Suppressions, admin.NewSuppression(e, now))
	}
	writeJSON(w, http.StatusOK, resp)
}

// getSuppression is GET /v1/suppressions/{address}.
func (s *Server) getSuppression(w http.ResponseWriter, r *http.Request) {
	e, err := s.opts.Suppressions.Suppression(r.Context(), r.PathValue("address"))
	if s.addressFailed(w, "read suppression", err) {
		return
	}
	writeJSON(w, http.StatusOK, admin.NewSuppression(e, s.opts.Now()))
}

// addSuppression is POST /v1/suppressions: a manual entry, replacing any
// entry of the address. 201 with the entry as stored.
func (s *Server) addSuppression(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSuppressionBody))
	if err != nil {
		s.badJSON(w, err)
		return
	}
	var req suppressRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		s.badJSON(w, err)
		return
	}
	now := s.opts.Now()
	e := store.Suppression{Addr: req.Address, Reason: store.ReasonManual, Reply: req.Note, Created: now}
	switch {
	case req.Address == "":
		writeError(w, http.StatusBadRequest, "address", "is required")
		return
	case store.NormalizeAddress(req.Address) == "" || len(req.Address) > 254:
		writeError(w, http.StatusBadRequest, "address", "not an address (local@domain)")
		return
	case len(req.Note) > maxSuppressionNote:
		writeError(w, http.StatusBadRequest, "note", "longer than "+strconv.Itoa(maxSuppressionNote)+" bytes")
		return
	}
	if e.Expires, err = parseTime("expires_at", req.ExpiresAt); err != nil {
		s.refuse(w, err)
		return
	}
	if !e.Expires.IsZero() && !e.Expires.After(now) {
		writeError(w, http.StatusBadRequest, "expires_at", "must be later than now")
		return
	}
	e, err = s.opts.Suppressions.Suppress(r.Context(), e)
	if err != nil {
		s.unavailable(w, "add suppression", err)
		return
	}
	s.log.Info("suppression added", "addr", e.Addr, "user", client(r.Context()), "expires", e.Expires)
	writeJSON(w, http.StatusCreated, admin.NewSuppression(e, now))
}

// removeSuppression is DELETE /v1/suppressions/{address}: 204, or 404
// when the address has no entry.
func (s *Server) removeSuppression(w http.ResponseWriter, r *http.Request) {
	addr := r.PathValue("address")
	err := s.opts.Suppressions.Unsuppress(r.Context(), addr)
	if s.addressFailed(w, "remove suppression", err) {
		return
	}
	s.log.Info("suppression removed", "addr", store.NormalizeAddress(addr), "user", client(r.Context()))
	w.WriteHeader(http.StatusNoContent)
}

// unavailable answers a store failure: logged here, 503 to the client.
func (s *Server) unavailable(w http.ResponseWriter, op string, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	s.log.Error("suppression list", "op", op, "err", err)
	w.Header().Set("Retry-After", "30")
	writeError(w, http.StatusServiceUnavailable, "", "the suppression list could not be read or written; retry later")
}

// addressFailed answers a failed look-up or removal of one address's
// entry: 400 for a malformed address, 404 for one not on the list, 503
// for the spool's failure (op names it in the log). It reports whether it
// answered.
func (s *Server) addressFailed(w http.ResponseWriter, op string, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, store.ErrBadAddress):
		writeError(w, http.StatusBadRequest, "address", "not an address (local@domain)")
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "address", "not on the suppression list")
	default:
		s.unavailable(w, op, err)
	}
	return true
}
