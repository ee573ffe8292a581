package admin

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Webhooks is the webhook dispatcher as the "webhooks" and
// "webhooks-redeliver" operations see it; cmd adapts queue/webhook's.
type Webhooks interface {
	// WebhookEndpoints returns every endpoint's state, by name.
	WebhookEndpoints(ctx context.Context) ([]WebhookEndpoint, error)
	// RedeliverWebhooks resumes the named endpoint (every failed one for
	// "") from its cursor at once, and returns the names resumed; an
	// unknown name is an error matching ErrNoEndpoint.
	RedeliverWebhooks(ctx context.Context, name string) ([]string, error)
	// LastEventSeq is the newest event's sequence number.
	LastEventSeq() uint64
}

// ErrNoEndpoint: no webhook endpoint has the name given.
var ErrNoEndpoint = errors.New("no such webhook endpoint")

// WebhookEndpoint is one endpoint's state (`outbox webhooks status`).
type WebhookEndpoint struct {
	Name string `json:"name"`
	URL  string `json:"url"` // any password masked
	// Cursor is the sequence number of the last event acknowledged (or
	// skipped by the endpoint's filter).
	Cursor uint64 `json:"cursor"`
	// Failed: failures lasted longer than retry_for; probed slowly.
	Failed       bool      `json:"failed"`
	FailingSince time.Time `json:"failing_since,omitzero"`
	LastError    string    `json:"last_error,omitempty"`
	NextAttempt  time.Time `json:"next_attempt,omitzero"`
	// Counters since the daemon started.
	Requests  uint64 `json:"requests"`
	Failures  uint64 `json:"failures"`
	Delivered uint64 `json:"delivered"` // events acknowledged
}

type webhooksRequest struct{}

func (*webhooksRequest) validate() error { return nil }

type webhooksResponse struct {
	Endpoints []WebhookEndpoint `json:"endpoints"`
	// LastEvent is the newest event's sequence number, so a reader sees
	// how far each cursor is behind; 0 when unknown.
	LastEvent uint64 `json:"last_event,omitempty"`
}

type redeliverRequest struct {
	Endpoint string `json:"endpoint,omitempty"` // "": every failed endpoint
}

func (*redeliverRequest) validate() error { return nil }

type redeliverResponse struct {
	Resumed []string `json:"resumed"`
}

func (s *Server) webhooks(w http.ResponseWriter, r *http.Request) {
	var req webhooksRequest
	if !s.decode(w, r, &req) {
		return
	}
	resp := webhooksResponse{Endpoints: []WebhookEndpoint{}}
	if s.opts.Webhooks != nil {
		eps, err := s.opts.Webhooks.WebhookEndpoints(r.Context())
		if err != nil {
			s.fail(w, "webhooks", "", err)
			return
		}
		resp.Endpoints = append(resp.Endpoints, eps...)
		resp.LastEvent = s.opts.Webhooks.LastEventSeq()
	}
	s.reply(w, resp)
}

func (s *Server) redeliverWebhooks(w http.ResponseWriter, r *http.Request) {
	var req redeliverRequest
	if !s.decode(w, r, &req) {
		return
	}
	if s.opts.Webhooks == nil {
		s.writeJSON(w, http.StatusNotFound, errorResponse{Error: "no webhooks are configured", Code: codeNotFound})
		return
	}
	names, err := s.opts.Webhooks.RedeliverWebhooks(r.Context(), req.Endpoint)
	if errors.Is(err, ErrNoEndpoint) {
		s.writeJSON(w, http.StatusNotFound, errorResponse{Error: err.Error(), Code: codeNotFound})
		return
	}
	if err != nil {
		s.fail(w, "webhooks-redeliver", "", err)
		return
	}
	s.log.Info("webhooks redelivered", "endpoint", req.Endpoint, "resumed", names)
	s.reply(w, redeliverResponse{Resumed: append([]string{}, names...)})
}

// WebhookEndpoints returns every webhook endpoint's state and the newest
// event's sequence number.
func (c *Client) WebhookEndpoints(ctx context.Context) ([]WebhookEndpoint, uint64, error) {
	var resp webhooksResponse
	err := c.call(ctx, "webhooks", &webhooksRequest{}, &resp)
	return resp.Endpoints, resp.LastEvent, err
}

// RedeliverWebhooks resumes the named endpoint, or every failed one for
// "", and returns the names resumed.
func (c *Client) RedeliverWebhooks(ctx context.Context, endpoint string) ([]string, error) {
	var resp redeliverResponse
	err := c.call(ctx, "webhooks-redeliver", &redeliverRequest{Endpoint: endpoint}, &resp)
	return resp.Resumed, err
}
