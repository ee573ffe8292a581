package httpapi

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/net/netutil"
	"golang.org/x/time/rate"
)

// Options configure New. Zero values take the defaults below.
type Options struct {
	// Spool stores accepted messages durably. Required.
	Spool Spool
	// Waker is told of every commit. nil: nobody is told.
	Waker Waker
	// Messages reads messages back for GET /v1/messages/{id}. nil: that
	// endpoint is not served.
	Messages Messages
	// Suppressions is the suppression list served at /v1/suppressions.
	// nil: those endpoints are not served.
	Suppressions Suppressions
	// Events is the event log for GET /v1/events. nil: that endpoint is
	// not served.
	Events Events
	// Signer DKIM-signs messages. nil: nothing is signed.
	Signer Signer
	// Hostname names this host in Message-ID and Received fields. Required.
	Hostname string
	// TrustLoopback lets clients on a loopback address in without a key.
	TrustLoopback bool
	// Keys are the API keys accepted at start; SetKeys replaces them.
	Keys []Key
	// MaxMessageSize is the largest message accepted, in bytes, as
	// built; the request may be a third larger (base64). Required.
	MaxMessageSize int64
	// MaxRecipients is the most envelope recipients (to, cc and bcc).
	// Required.
	MaxRecipients int
	// Rate is each key's sustained request rate, per second, and Burst
	// the requests it may make at once. Rate 0: no limit.
	Rate  float64
	Burst int
	// IdempotencyRetention is how long an Idempotency-Key is remembered:
	// a retry within it gets the first answer. Default
	// DefaultIdempotencyRetention.
	IdempotencyRetention time.Duration
	// MaxHold is how far ahead deliver_after may be (RFC 4865 §3 lets a
	// server bound FUTURERELEASE the same way). A message is signed when
	// it is accepted, so with expiring DKIM signatures the daemon keeps
	// MaxHold plus the delivery lifetime within the expiry. Default
	// DefaultMaxHold; negative: scheduled send is refused.
	MaxHold time.Duration
	// MaxConnections is the most connections served at once; more wait in
	// the listen backlog. Default DefaultMaxConnections.
	MaxConnections int
	// ReadTimeout bounds reading a whole request, WriteTimeout writing its
	// answer (so it includes the spool commit), IdleTimeout a keep-alive
	// connection between requests. Defaults below.
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// TLSConfig, when set, makes ServeTLS available.
	TLSConfig *tls.Config
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger; the package adds component=httpapi. Default slog.Default().
	Logger *slog.Logger
}

// Defaults of the HTTP server.
const (
	DefaultMaxConnections = 200
	DefaultReadTimeout    = 5 * time.Minute
	DefaultWriteTimeout   = time.Minute
	DefaultIdleTimeout    = 2 * time.Minute
	// DefaultIdempotencyRetention covers a day of client retries.
	DefaultIdempotencyRetention = 24 * time.Hour
	// DefaultMaxHold is the longest schedule, a month.
	DefaultMaxHold = 30 * 24 * time.Hour
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("httpapi: server closed")

// Server is the HTTP API.
type Server struct {
	opts  Options
	log   *slog.Logger
	srv   *http.Server
	keys  *keyring
	rates *limiters
	// shutdown is closed when Shutdown starts, so long polls answer at
	// once instead of holding it up.
	shutdown chan struct{}
	// polling counts the long polls waiting now (pollers).
	polling atomic.Int64
	// pools keep the buffers of accepting a message (pool.go).
	pools pools
}

// New checks opts and builds the server.
func New(opts Options) (*Server, error) {
	switch {
	case opts.Spool == nil:
		return nil, errors.New("httpapi: Options.Spool is required")
	case opts.Hostname == "":
		return nil, errors.New("httpapi: Options.Hostname is required")
	case opts.MaxMessageSize <= 0 || opts.MaxRecipients <= 0:
		return nil, errors.New("httpapi: Options.MaxMessageSize and MaxRecipients are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = DefaultMaxConnections
	}
	opts.ReadTimeout = orDefault(opts.ReadTimeout, DefaultReadTimeout)
	opts.WriteTimeout = orDefault(opts.WriteTimeout, DefaultWriteTimeout)
	opts.IdleTimeout = orDefault(opts.IdleTimeout, DefaultIdleTimeout)
	opts.IdempotencyRetention = orDefault(opts.IdempotencyRetention, DefaultIdempotencyRetention)
	if opts.MaxHold == 0 {
		opts.MaxHold = DefaultMaxHold
	}
	s := &Server{
		opts:  opts,
		log:   opts.Logger.With("component", "httpapi"),
		keys:  newKeyring(opts.Keys),
		rates: newLimiters(rate.Limit(opts.Rate), opts.Burst),

		shutdown: make(chan struct{}),
	}
	if opts.Rate <= 0 {
		s.rates = nil
	}
	mux := http.NewServeMux()
	mux.Handle("POST /v1/messages", s.authorized(http.HandlerFunc(s.postMessage)))
	mux.HandleFunc("GET /v1/openapi.json", s.getOpenAPI)
	if opts.Messages != nil {
		mux.Handle("GET /v1/messages/{id}", s.authorized(http.HandlerFunc(s.getMessage)))
	}
	if opts.Suppressions != nil {
		mux.Handle("GET /v1/suppressions", s.authorized(http.HandlerFunc(s.listSuppressions)))
		mux.Handle("POST /v1/suppressions", s.authorized(http.HandlerFunc(s.addSuppression)))
		mux.Handle("GET /v1/suppressions/{address}", s.authorized(http.HandlerFunc(s.getSuppression)))
		mux.Handle("DELETE /v1/suppressions/{address}", s.authorized(http.HandlerFunc(s.removeSuppression)))
	}
	if opts.Events != nil {
		mux.Handle("GET /v1/events", s.authorized(http.HandlerFunc(s.getEvents)))
	}
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 30 * time.Second,
		ReadTimeout:       opts.ReadTimeout,
		// net/http starts the write deadline when the request header has
		// been read, so it must also cover reading the body.
		WriteTimeout:   opts.ReadTimeout + opts.WriteTimeout,
		IdleTimeout:    opts.IdleTimeout,
		MaxHeaderBytes: 64 << 10,
		TLSConfig:      opts.TLSConfig,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.srv.RegisterOnShutdown(func() { close(s.shutdown) })
	return s, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Handler is the API's handler, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.srv.Handler }

// SetKeys replaces the accepted API keys (on a configuration reload).
func (s *Server) SetKeys(keys []Key) { s.keys.set(keys) }

// Serve answers requests on l until Shutdown.
func (s *Server) Serve(l net.Listener) error {
	return closed(s.srv.Serve(netutil.LimitListener(l, s.opts.MaxConnections)))
}

// ServeTLS answers requests over TLS (Options.TLSConfig) on l until
// Shutdown.
func (s *Server) ServeTLS(l net.Listener) error {
	if s.opts.TLSConfig == nil {
		return errors.New("httpapi: ServeTLS without Options.TLSConfig")
	}
	return closed(s.srv.ServeTLS(netutil.LimitListener(l, s.opts.MaxConnections), "", ""))
}

func closed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return ErrServerClosed
	}
	return err
}

// Shutdown stops accepting and lets the requests in progress finish (their
// commits included) until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// Close closes the listeners and every connection at once, requests in
// progress included (their clients get no answer, so they retry).
func (s *Server) Close() error { return s.srv.Close() }
