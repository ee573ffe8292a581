package admin

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// TLSMemory is the TLS downgrade memory the API shows and resets: the best
// TLS level ("plain", "encrypted", "verified") each destination domain has
// shown, below which delivery is deferred.
type TLSMemory interface {
	TLSLevels(ctx context.Context) (map[string]string, error)
	ResetTLSLevel(ctx context.Context, domain string) (bool, error)
}

// tlsRequest is the body of POST /v1/tls: Reset names a domain to forget;
// "" lists the memory.
type tlsRequest struct {
	Reset string `json:"reset,omitempty"`
}

func (r *tlsRequest) validate() error {
	if strings.ContainsAny(r.Reset, " \t\r\n") {
		return errors.New("reset: not a domain")
	}
	return nil
}

// TLSLevels is the answer of POST /v1/tls.
type TLSLevels struct {
	// Levels maps each remembered domain to its level (after a reset,
	// without the domain).
	Levels map[string]string `json:"levels"`
	// Reset: the domain asked to be reset had a level, now forgotten.
	Reset bool `json:"reset,omitempty"`
}

// tls lists the TLS downgrade memory, or resets one domain of it first.
func (s *Server) tls(w http.ResponseWriter, r *http.Request) {
	var req tlsRequest
	if !s.decode(w, r, &req) {
		return
	}
	m := s.opts.TLS
	if m == nil {
		s.writeJSON(w, http.StatusNotFound, errorResponse{Error: "the TLS downgrade memory is off (delivery.tls_memory)", Code: codeNotFound})
		return
	}
	var resp TLSLevels
	if req.Reset != "" {
		found, err := m.ResetTLSLevel(r.Context(), req.Reset)
		if err != nil {
			s.fail(w, "tls", "", err)
			return
		}
		resp.Reset = found
		if found {
			s.log.Info("TLS downgrade memory reset", "domain", req.Reset)
		}
	}
	levels, err := m.TLSLevels(r.Context())
	if err != nil {
		s.fail(w, "tls", "", err)
		return
	}
	resp.Levels = levels
	s.reply(w, resp)
}

// TLS lists the TLS downgrade memory; a non-empty reset forgets that
// domain first.
func (c *Client) TLS(ctx context.Context, reset string) (TLSLevels, error) {
	var resp TLSLevels
	err := c.call(ctx, "tls", &tlsRequest{Reset: reset}, &resp)
	return resp, err
}
