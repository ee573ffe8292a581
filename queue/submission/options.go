package submission

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net/netip"
	"time"
)

// Options configure a Server. Zero values take the defaults noted.
type Options struct {
	// Hostname is our name in the greeting, EHLO reply, Received fields and
	// generated Message-IDs. Required.
	Hostname string
	// MaxMessageSize is the largest message accepted, in bytes, as sent by
	// the client (before the listener adds its header fields). Default 25 MiB.
	MaxMessageSize int64
	// MaxHeaderSize caps the header block, which is parsed in memory.
	// Default 1 MiB.
	MaxHeaderSize int
	// MaxRecipients per message. Default 100.
	MaxRecipients int
	// ReadTimeout is how long a client may stay silent: between commands,
	// and between reads during DATA. Default 5 minutes (RFC 5321 §4.5.3.2).
	ReadTimeout time.Duration
	// WriteTimeout bounds each reply write. Default 1 minute.
	WriteTimeout time.Duration
	// DataTimeout is the wall-clock bound on one whole DATA or BDAT
	// transfer, from its start to the end of its data, however the client
	// spaces its reads; past it the client gets 421 4.4.2 and is
	// disconnected. ReadTimeout still bounds each read within it. Default
	// 10 minutes.
	DataTimeout time.Duration
	// MaxConnections is the number of simultaneous client connections across
	// all listeners of the Server; clients over it get "421 4.7.0 too many
	// connections". Default 200 (config's limits.max_connections).
	MaxConnections int
	// ReservedConnections of MaxConnections are kept for trusted networks
	// and authenticated clients: untrusted clients that have not
	// authenticated hold at most MaxConnections-ReservedConnections.
	// Default MaxConnections/10.
	ReservedConnections int
	// MaxConnectionsPerClient is the most simultaneous connections from one
	// untrusted address. Default 20.
	MaxConnectionsPerClient int
	// ConnectionRate is the most new connections from one untrusted address
	// per ConnectionRateWindow. Defaults 60 and 1 minute.
	ConnectionRate       int
	ConnectionRateWindow time.Duration
	// PreAuthTimeout replaces ReadTimeout for an untrusted client that has
	// not authenticated: the longest it may stay silent. Default 30 seconds.
	PreAuthTimeout time.Duration
	// MaxJunkCommands is the most NOOP, RSET, VRFY, EXPN and HELP commands
	// an untrusted client may send between accepted messages; the next one
	// gets 421 4.7.0 and the connection is closed. Default 20.
	MaxJunkCommands int
	// Senders, when non-nil, restricts the envelope sender (and optionally
	// the From header) each authenticated user may use: see SenderPolicy.
	// nil: any sender.
	Senders SenderPolicy
	// Priorities gives each message its delivery lane by its user
	// (priority.go). nil: every message is normal.
	Priorities PriorityPolicy
	// TLSConfig, when non-nil, enables STARTTLS on Serve and is required by
	// ServeTLS. nil: no TLS.
	TLSConfig *tls.Config
	// Trusted networks may submit without authenticating, and may
	// authenticate without TLS. Everyone else must authenticate, over TLS.
	// Default none (cmd passes the configured default, loopback).
	Trusted []netip.Prefix
	// Auth checks AUTH PLAIN/LOGIN credentials. nil: AUTH is not offered, so
	// only trusted networks can submit.
	Auth Authenticator
	// AuthMaxFailures failed authentications from one address within
	// AuthFailureWindow make further attempts fail with 454 4.7.0 until the
	// window ends. Defaults 5 and 10 minutes.
	AuthMaxFailures   int
	AuthFailureWindow time.Duration
	// Spool receives accepted messages. Required.
	Spool Spool
	// Waker, when not nil, is told of every commit to Spool (the queue:
	// deliver the new message now). nil: nobody is told.
	Waker Waker
	// Signer, when non-nil, signs each accepted message (DKIM): see
	// Signer. A signing failure is a temporary 451 4.3.0 for the client.
	// Default nil: messages are stored unsigned.
	Signer Signer
	// Logger for one line per accepted or rejected message. Default
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock for Received and Date fields, the recorded accept
	// time and the auth throttle. Default time.Now.
	Now func() time.Time
	// IdempotencyRetention is how long an Outbox-Idempotency-Key is
	// remembered: a resubmission with the key within it gets the first
	// queue ID. Default DefaultIdempotencyRetention.
	IdempotencyRetention time.Duration
	// MaxHold is the longest FUTURERELEASE hold (RFC 4865: HOLDFOR,
	// HOLDUNTIL), advertised in the EHLO reply; a longer one is refused
	// with 554 5.3.4. Default DefaultMaxHold; negative: FUTURERELEASE is
	// not offered.
	MaxHold time.Duration
	// Observer, when not nil, is told of every client connection admitted
	// and closed and of every message accepted (for the metrics). nil:
	// none.
	Observer Observer
}

// Observer follows the listener's traffic: open client connections and
// accepted messages. Its methods are called on the accept and commit
// paths and must not block.
type Observer interface {
	ConnOpened()
	ConnClosed()
	// Accepted counts a message committed to the spool (its client got
	// 250).
	Accepted()
}

// Defaults, applied by New. They equal config's defaults (a test in
// cmd/outbox pins them), so a listener built without config behaves as the
// daemon does.
const (
	DefaultMaxMessageSize    = 25 << 20
	DefaultMaxHeaderSize     = 1 << 20
	DefaultMaxRecipients     = 100
	DefaultReadTimeout       = 5 * time.Minute
	DefaultWriteTimeout      = time.Minute
	DefaultMaxConnections    = 200
	DefaultDataTimeout       = 10 * time.Minute
	DefaultPerClient         = 20
	DefaultConnectionRate    = 60
	DefaultRateWindow        = time.Minute
	DefaultPreAuthTimeout    = 30 * time.Second
	DefaultMaxJunkCommands   = 20
	DefaultAuthMaxFailures   = 5
	DefaultAuthFailureWindow = 10 * time.Minute
	// DefaultIdempotencyRetention covers a day of client retries, as the
	// HTTP API's.
	DefaultIdempotencyRetention = 24 * time.Hour
	// DefaultMaxHold is the longest scheduled send, a month, as the HTTP
	// API's.
	DefaultMaxHold = 30 * 24 * time.Hour
)

// withDefaults returns o with defaults filled in, or every problem found.
func (o Options) withDefaults() (Options, error) {
	var errs []error
	if o.Hostname == "" {
		errs = append(errs, errors.New("submission: Options.Hostname is required"))
	}
	if o.Spool == nil {
		errs = append(errs, errors.New("submission: Options.Spool is required"))
	}
	if o.MaxMessageSize < 0 || o.MaxHeaderSize < 0 || o.MaxRecipients < 0 ||
		o.MaxConnections < 0 || o.AuthMaxFailures < 0 ||
		o.ReadTimeout < 0 || o.WriteTimeout < 0 || o.AuthFailureWindow < 0 ||
		o.DataTimeout < 0 || o.ReservedConnections < 0 || o.MaxConnectionsPerClient < 0 ||
		o.ConnectionRate < 0 || o.ConnectionRateWindow < 0 || o.PreAuthTimeout < 0 ||
		o.MaxJunkCommands < 0 {
		errs = append(errs, errors.New("submission: negative limit in Options"))
	}
	if err := errors.Join(errs...); err != nil {
		return o, err
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	def(&o.MaxHeaderSize, DefaultMaxHeaderSize)
	def(&o.MaxRecipients, DefaultMaxRecipients)
	def(&o.MaxConnections, DefaultMaxConnections)
	def(&o.AuthMaxFailures, DefaultAuthMaxFailures)
	defDur(&o.ReadTimeout, DefaultReadTimeout)
	defDur(&o.WriteTimeout, DefaultWriteTimeout)
	defDur(&o.AuthFailureWindow, DefaultAuthFailureWindow)
	defDur(&o.DataTimeout, DefaultDataTimeout)
	def(&o.ReservedConnections, o.MaxConnections/10)
	def(&o.MaxConnectionsPerClient, DefaultPerClient)
	def(&o.ConnectionRate, DefaultConnectionRate)
	defDur(&o.ConnectionRateWindow, DefaultRateWindow)
	defDur(&o.PreAuthTimeout, DefaultPreAuthTimeout)
	def(&o.MaxJunkCommands, DefaultMaxJunkCommands)
	if o.ReservedConnections >= o.MaxConnections {
		return o, errors.New("submission: Options.ReservedConnections must be below MaxConnections")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	defDur(&o.IdempotencyRetention, DefaultIdempotencyRetention)
	defDur(&o.MaxHold, DefaultMaxHold)
	return o, nil
}
