package pgstore

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/outbox-mta/outbox/store"
)

// Defaults for Options.
const (
	DefaultMaxConns = 16
	DefaultLease    = 2 * time.Minute
)

// Options configure Open. The zero value is usable.
type Options struct {
	// MaxConns bounds the connection pool; default DefaultMaxConns.
	// Concurrent submissions each hold one for their transaction, so
	// PostgreSQL's own group commit shares their WAL flushes.
	MaxConns int32
	// ScratchDir holds bodies while they stream in, past InlineMax, until
	// Enqueue copies them into the database; default the system's
	// temporary directory. Each Open makes its own directory under it.
	ScratchDir string
	// SweepScratch: ScratchDir is this process's alone (the daemon's
	// spool.dir), so the directories that earlier processes left there
	// (killed before their Close) are removed at Open.
	SweepScratch bool
	// InlineMax: bodies up to this many bytes stream into memory, larger
	// ones into a scratch file; default store.DefaultInlineMax.
	InlineMax int64
	// MaxBodySize: Body.Write fails with store.ErrTooBig past it; 0: no
	// limit.
	MaxBodySize int64
	// Node names this process in the leases it takes (lease.go); default
	// hostname:pid. Two live processes must never share one.
	Node string
	// Lease is how long a claimed message stays this node's without a
	// renewal; a node that dies or pauses longer loses its claims to the
	// others. Default DefaultLease.
	Lease time.Duration
	// Logger receives quarantine events and lost leases; default
	// slog.Default(). The store adds component=store.
	Logger *slog.Logger
	// Now is the clock for message IDs, Received, bounce rows and leases;
	// default time.Now.
	Now func() time.Time

	// tracer, when set, sees every statement and batch of the pool's
	// connections (roundtrip_test.go counts round trips with it).
	tracer pgx.QueryTracer
}

func (o *Options) setDefaults() {
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.ScratchDir == "" {
		o.ScratchDir = os.TempDir()
	}
	if o.InlineMax == 0 {
		o.InlineMax = store.DefaultInlineMax
	}
	if o.Node == "" {
		host, _ := os.Hostname()
		o.Node = host + ":" + strconv.Itoa(os.Getpid())
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// DB is the spool in PostgreSQL. It is safe for concurrent use, and
// several DBs (on several nodes) may share one database.
type DB struct {
	pool      *pgxpool.Pool
	opts      Options
	log       *slog.Logger
	scratch   string // this DB's scratch directory for bodies
	ids       *idGen
	leases    *leases
	quit      chan struct{}
	bg        sync.WaitGroup  // the lease renewer and the notifier
	notifyReq chan struct{}   // capacity 1: notify.go
	ev        store.EventFeed // the newest event number known (events.go)
	seq       sequencer       // events.go
	seqReq    chan struct{}   // capacity 1: events.go
	group     grouper         // group.go
	viewOnce  sync.Once
	shared    *sharedView // view.go, started by view()
}

// Open connects to the database at url (a postgres:// URL or a DSN),
// creates or migrates its schema (migrate.go) and returns the spool.
// Every connection runs with synchronous_commit on, whatever the server's
// default, so a COMMIT returns only once its WAL is flushed (and, with
// synchronous replicas configured, received by them).
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	opts.setDefaults()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("pgstore: postgres_url: %w", err)
	}
	cfg.MaxConns = opts.MaxConns
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	cfg.ConnConfig.RuntimeParams["application_name"] = "outbox " + opts.Node
	if opts.tracer != nil {
		cfg.ConnConfig.Tracer = opts.tracer
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	db := &DB{pool: pool, opts: opts, log: opts.Logger.With("component", "store"),
		quit: make(chan struct{}), notifyReq: make(chan struct{}, 1), seqReq: make(chan struct{}, 1)}
	db.group.max = max(1, int(opts.MaxConns)/4)
	if err := db.open(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	db.bg.Add(4)
	go db.renewLoop()
	go db.notifyLoop()
	go db.watchEvents()
	go db.sequencerLoop()
	return db, nil
}

func (db *DB) open(ctx context.Context) error {
	if err := migrate(ctx, db.pool); err != nil {
		return classify(fmt.Errorf("pgstore: schema: %w", err))
	}
	var node int64
	if err := db.pool.QueryRow(ctx, `SELECT nextval('node_numbers')`).Scan(&node); err != nil {
		return classify(fmt.Errorf("pgstore: %w", err))
	}
	db.ids = newIDGen(node)
	db.sequence(ctx) // what a node left unnumbered when it died
	last, err := db.lastEventSeq(ctx)
	if err != nil {
		return fmt.Errorf("pgstore: %w", err)
	}
	db.ev.Init(last)
	db.leases = newLeases()
	if db.opts.SweepScratch {
		old, _ := filepath.Glob(filepath.Join(db.opts.ScratchDir, scratchPattern))
		for _, d := range old {
			os.RemoveAll(d)
		}
	}
	dir, err := os.MkdirTemp(db.opts.ScratchDir, scratchPattern)
	if err != nil {
		return fmt.Errorf("pgstore: scratch directory: %w", err)
	}
	db.scratch = dir
	return nil
}

// Close stops the lease renewer, the notifier, the event watcher and
// sequencer, wakes
// the event followers, closes the pool and removes the scratch
// directory. Leases still held expire by themselves.
func (db *DB) Close() error {
	select {
	case <-db.quit:
		return nil
	default:
	}
	close(db.quit)
	db.bg.Wait()
	db.ev.Close()
	db.pool.Close()
	return os.RemoveAll(db.scratch)
}

// Failed is never closed: a database that fails is waited for, not
// reopened (every write meanwhile fails with store.ErrCommit, and the
// queue pauses until Probe succeeds). It exists so the daemon treats
// both spools alike.
func (db *DB) Failed() <-chan struct{} { return nil }

// Err is nil: see Failed.
func (db *DB) Err() error { return nil }

func (db *DB) now() time.Time { return db.opts.Now() }

// tx runs fn in a transaction and commits it; an error from fn rolls it
// back. Errors are classified (errors.go).
func (db *DB) tx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	select {
	case <-db.quit:
		return store.ErrClosed
	default:
	}
	err := pgx.BeginFunc(ctx, db.pool, fn)
	return classify(err)
}

// scratchPattern names the scratch directories (os.MkdirTemp).
const scratchPattern = "outbox-bodies-*"
