package tlsrpt

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// Store is the spool as TLS reporting uses it; *store.DB satisfies it.
type Store interface {
	UpdateTLSReports(ctx context.Context, ups []store.TLSReportUpdate) error
	TLSReports(ctx context.Context, before string) ([]store.TLSReport, error)
	DeleteTLSReport(ctx context.Context, day, domain string) error
}

var _ Store = (*store.DB)(nil)

// Defaults of RecorderOptions.
const (
	DefaultFlushInterval = time.Minute
	DefaultMaxPending    = 10000
)

// RecorderOptions configure NewRecorder.
type RecorderOptions struct {
	Store Store // required
	// FlushInterval: results are written to the spool this often, in one
	// transaction. Default DefaultFlushInterval.
	FlushInterval time.Duration
	// MaxPending: a flush starts early when this many results wait.
	// Default DefaultMaxPending.
	MaxPending int
	Now        func() time.Time // default time.Now
	Logger     *slog.Logger     // default slog.Default()
}

// Recorder counts session results per UTC day and policy domain. Results
// are kept in memory and written in batches: a report is statistics, and
// one spool commit per delivery attempt would cost every delivery an
// fsync. A crash loses at most the results of one FlushInterval.
type Recorder struct {
	opts RecorderOptions
	log  *slog.Logger

	mu      sync.Mutex
	pending map[dayDomain][]Result
	n       int
	kick    chan struct{}
}

type dayDomain struct{ day, domain string }

// NewRecorder makes a Recorder; Run writes what it records.
func NewRecorder(opts RecorderOptions) *Recorder {
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = DefaultMaxPending
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Recorder{
		opts: opts, log: opts.Logger.With("component", "tlsrpt"),
		pending: map[dayDomain][]Result{}, kick: make(chan struct{}, 1),
	}
}

// Record counts one session's result under today's date (UTC). It never
// blocks and never fails.
func (r *Recorder) Record(res Result) {
	if res.Policy.Domain == "" {
		return
	}
	k := dayDomain{r.opts.Now().UTC().Format(time.DateOnly), res.Policy.Domain}
	r.mu.Lock()
	r.pending[k] = append(r.pending[k], res)
	r.n++
	full := r.n >= r.opts.MaxPending
	r.mu.Unlock()
	if full {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
}

// Flush writes the pending results to the spool. On failure they are
// dropped and the error returned: a report short of some sessions beats a
// memory that grows while the spool refuses writes.
func (r *Recorder) Flush(ctx context.Context) error {
	r.mu.Lock()
	pending := r.pending
	r.pending, r.n = map[dayDomain][]Result{}, 0
	r.mu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	ups := make([]store.TLSReportUpdate, 0, len(pending))
	for k, rs := range pending {
		ups = append(ups, store.TLSReportUpdate{Day: k.day, Domain: k.domain,
			Merge: func(old []byte) ([]byte, error) { return merge(old, rs) }})
	}
	return r.opts.Store.UpdateTLSReports(ctx, ups)
}

// Run flushes every FlushInterval, and early when MaxPending results
// wait, until ctx ends; then it flushes once more (with ctx's values but
// not its cancellation) and returns ctx's error.
func (r *Recorder) Run(ctx context.Context) error {
	t := time.NewTicker(r.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := r.Flush(context.WithoutCancel(ctx)); err != nil {
				r.log.Error("TLS report results lost", "err", err)
			}
			return ctx.Err()
		case <-t.C:
		case <-r.kick:
		}
		if err := r.Flush(ctx); err != nil {
			r.log.Error("TLS report results lost", "err", err)
		}
	}
}
