package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/store"
)

// Store is the spool as the queue uses it. *store.DB and *pgstore.DB
// satisfy it (cmd/outbox checks both; pgstore is a Claimer too); tests
// use an in-memory fake.
type Store interface {
	NewBody() (*store.Body, error)
	Enqueue(ctx context.Context, m *store.Message, b *store.Body) error
	Get(ctx context.Context, id string) (*store.Message, error)
	OpenBody(ctx context.Context, id string) (io.ReadCloser, error)
	Update(ctx context.Context, id string, fn func(m *store.Message) error) error
	Delete(ctx context.Context, id string) error
	// Due may pass skip an id that is valid only during the call (the
	// dispatcher's skip only looks it up).
	Due(ctx context.Context, now time.Time, limit int, skip func(id string) bool) ([]string, error)
	// DueLane is Due within one priority lane (the scheduler's seek).
	DueLane(ctx context.Context, p store.Priority, now time.Time, limit int, skip func(id string) bool) ([]string, error)
	NextDue(ctx context.Context) (time.Time, bool, error)
	List(ctx context.Context, f store.Filter) ([]*store.Message, error)
	Bounces(ctx context.Context, since time.Time) ([]store.Bounce, error)
	// PendingNotices lists the messages whose DSNPending flag is set.
	PendingNotices(ctx context.Context) ([]string, error)
	// Probe makes an empty commit: does the spool accept commits again?
	Probe(ctx context.Context) error
	// Quarantined lists the messages set aside as unreadable.
	Quarantined(ctx context.Context) ([]store.Quarantined, error)
	// Stats counts the spool (store/stats.go).
	Stats(ctx context.Context) (store.Stats, error)
}

var _ Store = (*store.DB)(nil)

// Deliverer makes one SMTP transaction for one destination domain.
// *delivery.Deliverer satisfies it. Deliver never returns an error: every
// failure is a per-recipient outcome in the Result.
type Deliverer interface {
	Deliver(ctx context.Context, env *delivery.Envelope) *delivery.Result
}

var _ Deliverer = (*delivery.Deliverer)(nil)

// Errors returned by the queue.
var (
	// ErrClosed is returned by Run after Shutdown, and by Run on a queue
	// that was already shut down.
	ErrClosed = errors.New("queue: closed")
	// ErrRunning is returned by Run when the queue is already running.
	ErrRunning = errors.New("queue: already running")
)

// Options configure New. Zero fields take the documented defaults.
type Options struct {
	// Workers is the number of concurrent deliveries (messages in flight).
	// Default 200 (config's delivery.max_connections).
	Workers int
	// AtLeastOne is the default at-least-one policy, used when a message
	// has no override (store.Message.AtLeastOne); nil means true.
	AtLeastOne *bool
	// FirstRetry is the wait after a recipient's first temporary failure;
	// it doubles after each further one. Default 5m.
	FirstRetry time.Duration
	// MaxRetryInterval caps the wait between attempts. Default 4000s.
	MaxRetryInterval time.Duration
	// MaxLifetime is how long a message is retried from its start (its
	// reception, or its scheduled send time: store.Message.Start); a
	// temporary failure after that, or after the message's own ExpireAt
	// when earlier, bounces as expired. Default 5 days.
	MaxLifetime time.Duration
	// Warmup is the start-up window during which the dispatcher starts at
	// most WarmupRate deliveries per second (after a first one at once),
	// so overdue work after a restart is spread out. The spread ends early
	// once that backlog is worked off (a query finds no more due work than
	// it may start), so fresh mail is never rate-limited by it. Default 1m;
	// negative disables.
	Warmup time.Duration
	// WarmupRate is deliveries started per second during Warmup. Default
	// Workers.
	WarmupRate int
	// DSN enables delivery status notifications to the sender on bounce.
	// When set, Hostname must be set too.
	DSN bool
	// Hostname is the Reporting-MTA of notices (RFC 3464 §2.2.2), bounce
	// notices and delay warnings alike (notice.go).
	Hostname string
	// Logger receives one line per delivery, deferral and bounce. Default
	// slog.Default(). The queue adds component=queue.
	Logger *slog.Logger
	// Clock is the time source and timer factory. Default the wall clock.
	Clock Clock
	// Shaper, when set, is consulted before each delivery: per-destination
	// budgets and the adaptive reaction to slow-down replies (shape.go,
	// queue/shaping). Nil delivers without shaping.
	Shaper Shaper
	// DownList keeps the destinations found down (destination.go); nil
	// keeps them in this process's memory. Nodes sharing a spool share it.
	DownList DownList
	// Rand(n) returns a uniform value in [0, n); it jitters the back-off.
	// Default math/rand/v2.Int64N.
	Rand func(n int64) int64
	// Suppressions is the suppression list (suppress.go), consulted
	// before each attempt and taught by outcomes. nil: none.
	Suppressions SuppressionList
	// SuppressAfterExpirations lists an address once this many
	// consecutive recipients at it were given up as expired. 0: never.
	SuppressAfterExpirations int
	// SuppressFor is how long an entry the queue adds lasts. 0: until it
	// is removed (or the address is delivered to after all).
	SuppressFor time.Duration
}

// Defaults. They equal config's defaults (a test in cmd/outbox pins them).
const (
	DefaultWorkers          = 200
	DefaultFirstRetry       = 5 * time.Minute
	DefaultMaxRetryInterval = 4000 * time.Second
	DefaultMaxLifetime      = 5 * 24 * time.Hour
	DefaultWarmup           = time.Minute
)

func (o *Options) setDefaults() {
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.AtLeastOne == nil {
		yes := true
		o.AtLeastOne = &yes
	}
	if o.FirstRetry <= 0 {
		o.FirstRetry = DefaultFirstRetry
	}
	if o.MaxRetryInterval <= 0 {
		o.MaxRetryInterval = DefaultMaxRetryInterval
	}
	if o.MaxLifetime <= 0 {
		o.MaxLifetime = DefaultMaxLifetime
	}
	if o.Warmup == 0 {
		o.Warmup = DefaultWarmup
	}
	if o.WarmupRate <= 0 {
		o.WarmupRate = o.Workers
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
	if o.Rand == nil {
		o.Rand = rand.Int64N
	}
}

// Queue schedules delivery of the spooled messages: it claims due work,
// runs attempts and records their outcomes. Create it with New, start it
// with Run; the operator's commands are its Ops.
type Queue struct {
	store Store
	del   Deliverer
	opts  Options
	log   *slog.Logger
	clock Clock

	wake   chan struct{} // capacity 1: a pending wake-up is never lost nor doubled
	dest   destinations
	health spoolHealth // failed commits: per-message back-off, paused dispatch (commitfail.go)
	st     counters
	busy   busySet // messages a worker holds, for explanations

	mu           sync.Mutex
	running      bool
	closed       bool
	stopDispatch context.CancelFunc // set while running
	abandon      context.CancelFunc // cancels in-flight deliveries
	stopped      chan struct{}      // closed when Run returns
}

// New returns a queue over st delivering with d.
func New(st Store, d Deliverer, opts Options) (*Queue, error) {
	if st == nil || d == nil {
		return nil, errors.New("queue: New needs a store and a deliverer")
	}
	if opts.DSN && opts.Hostname == "" {
		return nil, errors.New("queue: Options.DSN is set but Options.Hostname is empty")
	}
	opts.setDefaults()
	q := &Queue{
		store: st,
		del:   d,
		opts:  opts,
		log:   opts.Logger.With("component", "queue"),
		clock: opts.Clock,
		wake:  make(chan struct{}, 1),
		st:    counters{duration: newHistogram()},
	}
	q.dest = destinations{list: opts.DownList, q: q}
	if q.dest.list == nil {
		q.dest.list = newMemoryDownList()
	}
	return q, nil
}

// Spooled tells the queue of a commit another writer made to its spool
// (the listener's Enqueue), with its error. A new message is due now, so
// nil wakes the dispatcher (and resumes it if a failing spool had paused
// it); a failed commit (store.ErrCommit) pauses dispatch as a failed
// outcome does. It never blocks.
func (q *Queue) Spooled(err error) {
	if err != nil {
		if q.health.commitFailed(err, q.clock.Now()) {
			q.logPaused(err)
		}
		return
	}
	q.commitOK("")
	q.Wake()
}

// enqueue durably spools m with body b, a notice the queue writes itself,
// and wakes the dispatcher so it is delivered at once. Recipients with no
// state are Queued, due at reception; a zero Received is now.
func (q *Queue) enqueue(ctx context.Context, m *store.Message, b *store.Body) error {
	now := q.clock.Now()
	if m.Received.IsZero() {
		m.Received = now
	}
	for i := range m.Recipients {
		r := &m.Recipients[i]
		if r.State == 0 {
			r.State = store.StateQueued
		}
		if r.NextAttempt.IsZero() && !r.State.Final() {
			r.NextAttempt = m.Start()
		}
	}
	err := q.store.Enqueue(ctx, m, b)
	q.Spooled(err)
	if err != nil {
		return fmt.Errorf("queue: enqueue: %w", err)
	}
	return nil
}

// Wake makes the dispatcher look for due work now. It never blocks.
func (q *Queue) Wake() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Stats is a snapshot of the queue's counters, for metrics.
type Stats struct {
	Attempts         uint64 // Deliver calls
	Delivered        uint64 // recipients delivered
	Deferred         uint64 // recipients deferred after an attempt
	Bounced          uint64 // recipients bounced, expired included
	Expired          uint64 // recipients bounced because their lifetime ran out
	Ambiguous        uint64 // attempts whose outcome was ambiguous (lost after the dot)
	DestinationDown  uint64 // attempts that found no reachable host
	DestinationSkips uint64 // recipients deferred without attempt: destination backed off
	DSNs             uint64 // delivery status notifications queued (delay warnings included)
	InFlight         int    // messages being delivered now
	DownDomains      int    // destinations currently backed off

	// CommitFailures counts attempt outcomes the spool could not commit
	// (each such message waits out a back-off before it is tried again).
	CommitFailures uint64
	// CommitBackoff is the number of messages waiting out that back-off.
	CommitBackoff int
	// DispatchPaused: the spool refuses commits (disk full, I/O error), so
	// no delivery starts until a commit succeeds again; since PausedSince,
	// PauseReason being the last commit error.
	DispatchPaused bool
	PausedSince    time.Time
	PauseReason    string

	BouncedBy       map[string]uint64 // recipients bounced, by Bounce* class
	AttemptsByTLS   map[string]uint64 // attempts by TLS version ("TLS1.3", "none")
	AttemptDuration Histogram         // wall time of each Deliver call

	// Shaping is traffic shaping's part (shape.go).
	Shaping ShapingStats
}

type counters struct {
	attempts, delivered, deferred, bounced, expired atomic.Uint64
	ambiguous, destDown, destSkips, dsns            atomic.Uint64
	commitFailures                                  atomic.Uint64
	throttled, parks                                atomic.Uint64
	inFlight                                        atomic.Int64
	bounceClass, tls                                labelCounts
	duration                                        *histogram
}

// Stats returns the current counters.
func (q *Queue) Stats() Stats {
	now := q.clock.Now()
	h := q.health.stats(now)
	return Stats{
		CommitFailures:   q.st.commitFailures.Load(),
		CommitBackoff:    h.backoff,
		DispatchPaused:   h.paused,
		PausedSince:      h.since,
		PauseReason:      h.reason,
		Attempts:         q.st.attempts.Load(),
		Delivered:        q.st.delivered.Load(),
		Deferred:         q.st.deferred.Load(),
		Bounced:          q.st.bounced.Load(),
		Expired:          q.st.expired.Load(),
		Ambiguous:        q.st.ambiguous.Load(),
		DestinationDown:  q.st.destDown.Load(),
		DestinationSkips: q.st.destSkips.Load(),
		DSNs:             q.st.dsns.Load(),
		InFlight:         int(q.st.inFlight.Load()),
		DownDomains:      q.dest.count(now),
		BouncedBy:        q.st.bounceClass.snapshot(),
		AttemptsByTLS:    q.st.tls.snapshot(),
		AttemptDuration:  q.st.duration.snapshot(),
		Shaping:          q.shapingStats(now),
	}
}
