package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/outbox-mta/outbox/config"
	"github.com/outbox-mta/outbox/queue"
	"github.com/outbox-mta/outbox/queue/admin"
	"github.com/outbox-mta/outbox/queue/httpapi"
	"github.com/outbox-mta/outbox/queue/maintenance"
	"github.com/outbox-mta/outbox/queue/metrics"
	"github.com/outbox-mta/outbox/queue/submission"
	"github.com/outbox-mta/outbox/queue/tlsrpt"
	"github.com/outbox-mta/outbox/store"
	"github.com/outbox-mta/outbox/store/pgstore"
)

// spool is the daemon's storage, whichever backend spool.backend names:
// every part's view of it, plus the daemon's own needs (Failed and Err:
// a bbolt spool that failed makes the daemon exit for a restart; Close).
type spool interface {
	queue.Store
	submission.Spool
	httpapi.Spool
	httpapi.Suppressions
	httpapi.Events
	admin.SuppressionList
	queue.SuppressionList
	maintenance.Store
	metrics.SpoolStats
	tlsStore
	webhookSpool
	tlsrpt.Store
	Failed() <-chan struct{}
	Err() error
	Close() error
}

// The compile-time checks that both backends fit every consumer.
var (
	_ spool         = (*store.DB)(nil)
	_ spool         = (*pgstore.DB)(nil)
	_ queue.Claimer = (*pgstore.DB)(nil)
)

// openSpool opens the spool of cfg. The bbolt spool recovers at Open
// (store/recover.go); the PostgreSQL one creates or migrates its schema.
func openSpool(cfg *config.Config, log *slog.Logger) (spool, error) {
	s := cfg.Spool
	if s.Backend != config.BackendPostgres {
		return store.Open(s.Dir, store.Options{LockTimeout: s.LockTimeout.Duration, Logger: log})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*s.LockTimeout.Duration+30e9)
	defer cancel()
	// Bodies stream into spool.dir while they arrive; the database holds
	// them once accepted. The directory also holds the admin socket.
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool.dir: %w", err)
	}
	return pgstore.Open(ctx, s.PostgresURL, pgstore.Options{
		ScratchDir:   filepath.Clean(s.Dir),
		SweepScratch: true,
		Lease:        s.Lease.Duration,
		Logger:       log,
	})
}

// listener is a spool that announces work across nodes (pgstore.DB).
type listener interface {
	Listen(ctx context.Context, wake func()) error
}

// listenForWork wakes q when another node announces due work, until ctx
// ends; a no-op for a spool of one node.
func listenForWork(ctx context.Context, db spool, q *queue.Queue) {
	if l, ok := db.(listener); ok {
		l.Listen(ctx, q.Wake)
	}
}

// spoolAlive is the watchdog's liveness check: a read of the spool. A
// database that is down (store.ErrCommit from a pgstore.DB) is not a hung
// daemon: it answers 451 meanwhile and resumes by itself when the
// database is back, which a restart by the service manager would not
// speed up.
func spoolAlive(ctx context.Context, db spool) error {
	_, _, err := db.NextDue(ctx)
	if _, shared := db.(*pgstore.DB); shared && errors.Is(err, store.ErrCommit) {
		return nil
	}
	return err
}

// exclusive is db's way of running a maintenance job on one node at a
// time, when it is shared by several (pgstore.DB); nil for bbolt's.
func exclusive(db spool) maintenance.Exclusive {
	if e, ok := db.(maintenance.Exclusive); ok {
		return e
	}
	return nil
}
