package webhook

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/outbox-mta/outbox/queue"
	"github.com/outbox-mta/outbox/store"
)

// Event is one entry of the event log as the dispatcher needs it.
type Event struct {
	// Seq is the event's sequence number, increasing across the spool.
	Seq uint64
	// Type is the event's type ("delivered", "bounced", ...), matched
	// against Endpoint.Types.
	Type string
	// JSON is the event as the feed serves it, valid JSON; batches carry
	// it as is.
	JSON json.RawMessage
}

// Log is the event log the dispatcher reads; cmd adapts the store's.
type Log interface {
	// Events returns up to limit events with Seq > after, in Seq order,
	// each with valid JSON.
	Events(ctx context.Context, after uint64, limit int) ([]Event, error)
	// Wait returns nil once an event with Seq > after may be in the log,
	// or ctx's error when ctx ends first. A spurious return is allowed.
	Wait(ctx context.Context, after uint64) error
}

// Cursors keep each endpoint's progress in the spool; *store.DB
// satisfies it.
type Cursors interface {
	WebhookCursor(ctx context.Context, endpoint string) (store.WebhookCursor, bool, error)
	PutWebhookCursor(ctx context.Context, c store.WebhookCursor) error
}

var _ Cursors = (*store.DB)(nil)

// Defaults of Options.
const (
	DefaultMaxBatch      = 100
	DefaultFirstRetry    = 5 * time.Second
	DefaultMaxRetry      = 10 * time.Minute
	DefaultProbeInterval = time.Hour
	DefaultMaxReply      = 64 << 10
	DefaultLinger        = 200 * time.Millisecond
	DefaultCursorEvery   = time.Second
)

// Options configure New.
type Options struct {
	// Endpoints receive the events. Names must be unique.
	Endpoints []Endpoint
	// Log is the event log. Required.
	Log Log
	// Cursors keep progress. Required.
	Cursors Cursors
	// MaxBatch is the most events in one request; default
	// DefaultMaxBatch.
	MaxBatch int
	// FirstRetry and MaxRetry are the back-off of the endpoints that set
	// none; defaults DefaultFirstRetry and DefaultMaxRetry.
	FirstRetry, MaxRetry time.Duration
	// Linger is how long a batch short of MaxBatch waits for more events
	// before it is sent, so that a busy spool costs few requests and
	// few cursor writes; default DefaultLinger, negative: no wait.
	Linger time.Duration
	// CursorInterval is the most time between cursor writes while an
	// endpoint keeps acknowledging (it is also written whenever the
	// endpoint goes idle, and on every change of its failed state); a
	// crash sends again at most this much of acknowledged events.
	// Default DefaultCursorEvery; negative: a write per request.
	CursorInterval time.Duration
	// ProbeInterval spaces the requests to a failed endpoint; default
	// DefaultProbeInterval.
	ProbeInterval time.Duration
	// MaxReply is the most bytes of a reply read; the rest is dropped
	// with the connection. Default DefaultMaxReply.
	MaxReply int64
	// TLS, when set, is the client's TLS configuration (tests set
	// RootCAs); default the system's roots.
	TLS *tls.Config
	// Clock and Rand are the test seams for time and jitter; defaults
	// the wall clock and math/rand/v2.
	Clock queue.Clock
	Rand  func(n int64) int64
	// Logger; the dispatcher adds component=webhook. Default
	// slog.Default().
	Logger *slog.Logger
}

// ErrUnknownEndpoint: Redeliver was given a name no endpoint has.
var ErrUnknownEndpoint = errors.New("webhook: no such endpoint")

// Dispatcher delivers the event log to the endpoints: one goroutine per
// endpoint, each reading the log from its own cursor. It only reads the
// log and writes cursors, so a slow or failing endpoint never holds up
// mail. Create it with New, run it with Run.
type Dispatcher struct {
	opts    Options
	log     *slog.Logger
	client  *http.Client
	workers []*worker
}

// New checks opts and builds the dispatcher.
func New(opts Options) (*Dispatcher, error) {
	if opts.Log == nil || opts.Cursors == nil {
		return nil, errors.New("webhook: Options.Log and Options.Cursors are required")
	}
	setDefaults(&opts)
	d := &Dispatcher{opts: opts, log: opts.Logger.With("component", "webhook")}
	d.client = newClient(opts.TLS)
	var errs []error
	seen := map[string]bool{}
	for i := range opts.Endpoints {
		e := opts.Endpoints[i]
		if err := e.check(); err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[e.Name] {
			errs = append(errs, fmt.Errorf("endpoint %q: the name is used twice", e.Name))
			continue
		}
		seen[e.Name] = true
		if e.RetryFor <= 0 {
			e.RetryFor = DefaultRetryFor
		}
		if e.Timeout <= 0 {
			e.Timeout = DefaultTimeout
		}
		if e.FirstRetry <= 0 {
			e.FirstRetry = opts.FirstRetry
		}
		if e.MaxRetry <= 0 {
			e.MaxRetry = opts.MaxRetry
		}
		d.workers = append(d.workers, newWorker(d, e))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	return d, nil
}

func setDefaults(o *Options) {
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.FirstRetry <= 0 {
		o.FirstRetry = DefaultFirstRetry
	}
	if o.MaxRetry <= 0 {
		o.MaxRetry = DefaultMaxRetry
	}
	if o.Linger == 0 {
		o.Linger = DefaultLinger
	}
	if o.CursorInterval == 0 {
		o.CursorInterval = DefaultCursorEvery
	}
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = DefaultProbeInterval
	}
	if o.MaxReply <= 0 {
		o.MaxReply = DefaultMaxReply
	}
	if o.Clock == nil {
		o.Clock = queue.SystemClock()
	}
	if o.Rand == nil {
		o.Rand = rand.Int64N
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Run delivers until ctx ends, then returns ctx's error. A request in
// flight is abandoned: its events are sent again after a restart
// (at-least-once).
func (d *Dispatcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, w := range d.workers {
		wg.Go(func() { w.run(ctx) })
	}
	wg.Wait()
	return ctx.Err()
}

// Status is one endpoint's state, for the CLI and the metrics.
type Status struct {
	Name string
	URL  string // with any password masked
	// Cursor is the last event acknowledged (or skipped by the filter).
	Cursor uint64
	// Failed: the endpoint failed for longer than its retry time and is
	// probed every Options.ProbeInterval.
	Failed bool
	// FailingSince is the start of the current run of failures; zero
	// while the endpoint answers.
	FailingSince time.Time
	LastError    string
	// NextAttempt is when a pending batch is tried again; zero when none
	// waits.
	NextAttempt time.Time
	// Counters since the daemon started.
	Requests, Failures, Delivered uint64
}

// Status returns every endpoint's state, by name.
func (d *Dispatcher) Status() []Status {
	out := make([]Status, 0, len(d.workers))
	for _, w := range d.workers {
		out = append(out, w.status())
	}
	slices.SortFunc(out, func(a, b Status) int { return cmpString(a.Name, b.Name) })
	return out
}

// Redeliver resumes the named endpoint (every failed one when name is
// empty) from its cursor at once: its failed mark is cleared, its retry
// time starts again and its back-off is dropped. It returns the names
// resumed.
func (d *Dispatcher) Redeliver(ctx context.Context, name string) ([]string, error) {
	var names []string
	for _, w := range d.workers {
		if (name == "" && w.status().Failed) || w.ep.Name == name {
			if err := w.redeliver(ctx); err != nil {
				return names, err
			}
			names = append(names, w.ep.Name)
		}
	}
	if name != "" && len(names) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrUnknownEndpoint, name)
	}
	return names, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
