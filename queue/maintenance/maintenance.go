package maintenance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/outbox-mta/outbox/queue"
	"github.com/outbox-mta/outbox/store"
)

// Store is the spool as the jobs use it; *store.DB and *pgstore.DB
// satisfy it.
type Store interface {
	PruneMessages(ctx context.Context, before time.Time) (int, error)
	PruneBounces(ctx context.Context, before time.Time) (int, error)
	PruneIdempotency(ctx context.Context, before time.Time) (int, error)
	PruneEvents(ctx context.Context, before time.Time) (int, error)
	Stats(ctx context.Context) (store.Stats, error)
	List(ctx context.Context, f store.Filter) ([]*store.Message, error)
}

// Exclusive runs run only when no other node sharing the spool is running
// the job named name, and reports whether it ran. *pgstore.DB satisfies it
// (a PostgreSQL advisory lock).
type Exclusive interface {
	Exclusive(ctx context.Context, name string, run func(ctx context.Context) error) (ran bool, err error)
}

// Queue is the scheduler as the jobs use it; *queue.Queue satisfies it.
type Queue interface {
	// WarnDelay writes and queues the delay warning about m and marks m
	// warned; the job only decides when.
	WarnDelay(ctx context.Context, m *store.Message) error
	Wake()
}

var (
	_ Store = (*store.DB)(nil)
	_ Queue = (*queue.Queue)(nil)
)

// Schedules are cron expressions (robfig/cron's standard parser: five
// fields or a descriptor); "" disables a job.
type Schedules struct {
	Prune, DelayWarnings, Stats, Sweep string
	// TLSReports runs Options.TLSReports; ignored while that is nil.
	TLSReports string
}

// Options configure New.
type Options struct {
	Store Store // required
	Queue Queue // required
	// Schedules of the jobs.
	Schedules Schedules
	// Retention: finished messages received longer ago are pruned.
	// Zero keeps them.
	Retention time.Duration
	// BounceRetention: bounce log rows older are pruned. Zero keeps them.
	BounceRetention time.Duration
	// EventRetention: events older are pruned from the event log. Zero
	// keeps them.
	EventRetention time.Duration
	// IdempotencyRetention: idempotency records (HTTP Idempotency-Key)
	// older are pruned. Zero keeps them.
	IdempotencyRetention time.Duration
	// DelayWarning: a sender is warned once when a recipient of its message
	// is still deferred this long after reception. Zero: no warnings.
	DelayWarning time.Duration
	// CompactHint: Stats logs a hint to compact when free pages make up at
	// least this share of a file of at least CompactMinBytes. Defaults
	// 0.5 and 64 MiB.
	CompactHint     float64
	CompactMinBytes int64
	// SweepOverdue: Sweep wakes the queue when a pending recipient is due
	// longer ago than this. Default 1h.
	SweepOverdue time.Duration
	// Exclusive, when set, runs each job on one node at a time of several
	// sharing one spool (store/pgstore), so that two nodes never send the
	// same delay warning. nil: every job runs here.
	Exclusive Exclusive
	// TLSReports sends the TLS reports of finished days (queue/tlsrpt
	// Reporter.Send); nil: no such job.
	TLSReports func(context.Context) error
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger; the package adds component=maintenance. Default
	// slog.Default().
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultCompactHint     = 0.5
	DefaultCompactMinBytes = 64 << 20
	DefaultSweepOverdue    = time.Hour
)

// Runner owns the cron scheduler and the jobs. Its lifecycle is the
// daemon's other parts': Run until Shutdown.
type Runner struct {
	opts Options
	log  *slog.Logger
	cron *cron.Cron

	mu     sync.Mutex
	closed bool
	quit   chan struct{} // closed by Shutdown
}

// New parses the schedules and registers the jobs; Run runs them.
func New(opts Options) (*Runner, error) {
	if opts.Store == nil || opts.Queue == nil {
		return nil, errors.New("maintenance: Options.Store and Options.Queue are required")
	}
	if opts.CompactHint <= 0 {
		opts.CompactHint = DefaultCompactHint
	}
	if opts.CompactMinBytes <= 0 {
		opts.CompactMinBytes = DefaultCompactMinBytes
	}
	if opts.SweepOverdue <= 0 {
		opts.SweepOverdue = DefaultSweepOverdue
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	r := &Runner{opts: opts, log: opts.Logger.With("component", "maintenance"), quit: make(chan struct{})}
	// cron's own log lines (panics caught by Recover, skipped runs) go to
	// slog too.
	clog := cronLogger{r.log}
	r.cron = cron.New(cron.WithLogger(clog), cron.WithChain(cron.Recover(clog), cron.SkipIfStillRunning(clog)))
	for _, j := range []struct {
		name, spec string
		run        func(context.Context) error
	}{
		{"prune", opts.Schedules.Prune, r.Prune},
		{"delay_warnings", opts.Schedules.DelayWarnings, r.DelayWarnings},
		{"stats", opts.Schedules.Stats, r.Stats},
		{"sweep", opts.Schedules.Sweep, r.Sweep},
		{"tls_reports", opts.Schedules.TLSReports, opts.TLSReports},
	} {
		if j.spec == "" || j.run == nil {
			continue
		}
		if _, err := r.cron.AddFunc(j.spec, r.job(j.name, j.run)); err != nil {
			return nil, fmt.Errorf("maintenance: schedule of %s %q: %w", j.name, j.spec, err)
		}
	}
	return r, nil
}

// job adapts a job to cron. Its error is logged once, here, where it is
// handled. Jobs run with a background context: Shutdown waits for them
// rather than cutting a prune or a notice in half.
func (r *Runner) job(name string, run func(context.Context) error) func() {
	return func() {
		start := r.opts.Now()
		ran, err := true, error(nil)
		if r.opts.Exclusive != nil {
			ran, err = r.opts.Exclusive.Exclusive(context.Background(), name, run)
		} else {
			err = run(context.Background())
		}
		switch {
		case err != nil:
			r.log.Error("job failed", "job", name, "err", err)
		case !ran:
			r.log.Debug("job skipped: another node is running it", "job", name)
		default:
			r.log.Debug("job done", "job", name, "took", r.opts.Now().Sub(start))
		}
	}
}

// ErrClosed is returned by Run after Shutdown.
var ErrClosed = errors.New("maintenance: closed")

// Run runs the jobs on their schedules until Shutdown (ErrClosed) or until
// ctx ends (its error). Cancelling ctx stops scheduling; jobs already
// running finish (Shutdown waits for them).
func (r *Runner) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	r.cron.Start()
	r.mu.Unlock()
	select {
	case <-r.quit:
		return ErrClosed
	case <-ctx.Done():
		r.cron.Stop()
		return ctx.Err()
	}
}

// Shutdown stops scheduling, makes Run return, and waits, until ctx ends,
// for the jobs running now.
func (r *Runner) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.quit)
	}
	done := r.cron.Stop().Done()
	r.mu.Unlock()
	select {
	case <-done: // before ctx: an expired ctx with nothing running is no error
		return nil
	default:
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("maintenance: jobs still running: %w", ctx.Err())
	}
}

// cronLogger routes cron.Logger to slog.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug(msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error(msg, append(kv, "err", err)...)
}
