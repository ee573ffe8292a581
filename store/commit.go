package store

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// Group commit.
//
// Every write (Enqueue, Update, Delete, Prune, quarantine) is a request: an
// op run inside a bbolt write transaction. One committer goroutine takes
// everything pending, runs all the ops in one transaction, commits (bbolt
// fsyncs the data pages, then the meta page) and only then answers every
// waiter. Requests that arrive during the fsync wait in the channel and form
// the next batch, so under load one fsync pair is shared by many messages
// and a lone writer pays exactly one commit, with no batching delay (bbolt's
// own Batch waits up to MaxBatchDelay, 10ms by default, before committing).
//
// An op either fails before it writes anything (not found, the caller's fn
// returned an error or panicked, a corrupt record — whose quarantine write
// is meant to commit), and the batch goes on; or it returns a dirtyError (a
// Put failed) and the transaction is rolled back and rerun without it, as
// bbolt's Batch does. Ops must therefore be safe to run more than once. A
// panic of bbolt itself is damage (damage.go): the batch fails with it.
//
// A commit that fails is answered to every request of the batch with an
// error matching ErrCommit; failure.go decides whether the DB survives it.

// maxBatch bounds the requests in one transaction so one commit's latency
// stays bounded under a flood.
const maxBatch = 512

// request is one write waiting for the committer.
type request struct {
	op        func(tx *bolt.Tx) error
	done      chan error // buffered(1): the committer never blocks on it
	cancelled atomic.Bool
}

// dirtyError marks an op failure after it may have written to the
// transaction: the batch must be rolled back and retried without it.
type dirtyError struct{ err error }

func (e *dirtyError) Error() string { return e.err.Error() }
func (e *dirtyError) Unwrap() error { return e.err }

func dirty(err error) error {
	if err == nil {
		return nil
	}
	return &dirtyError{err}
}

// write submits op to the committer and waits until its batch has committed.
// If ctx ends first, write returns ctx.Err(); the op is skipped if its batch
// had not started yet, otherwise it may still commit (see doc.go: the caller
// must treat this as "unknown", as it treats a lost connection).
func (db *DB) write(ctx context.Context, op func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := db.Err(); err != nil {
		return err
	}
	r := &request{op: op, done: make(chan error, 1)}
	select {
	case db.reqs <- r:
	case <-db.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		r.cancelled.Store(true)
		return ctx.Err()
	case <-db.stopped:
		// The committer answers everything it took before stopping.
		select {
		case err := <-r.done:
			return err
		default:
			return ErrClosed
		}
	}
}

func (db *DB) commitLoop() {
	defer close(db.stopped)
	batch := make([]*request, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case r := <-db.reqs:
			batch = append(batch, r)
		case <-db.quit:
			db.failPending()
			return
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-db.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		db.runBatch(batch)
	}
}

// failPending answers requests still queued at Close.
func (db *DB) failPending() {
	for {
		select {
		case r := <-db.reqs:
			r.done <- ErrClosed
		default:
			return
		}
	}
}

// runBatch runs the batch in one transaction and answers every request.
func (db *DB) runBatch(batch []*request) {
	live := batch[:0:0]
	for _, r := range batch {
		if r.cancelled.Load() {
			r.done <- context.Canceled
			continue
		}
		live = append(live, r)
	}
	for len(live) > 0 {
		if err := db.Err(); err != nil {
			for _, r := range live {
				r.done <- err
			}
			return
		}
		var errs []error
		bad := -1
		err := db.guard(func() error {
			var err error
			errs, bad, err = db.commitBatch(live)
			return err
		})
		if errors.Is(err, ErrDamaged) {
			// Nothing of the batch was committed, and nothing will be.
			for _, r := range live {
				r.done <- err
			}
			return
		}
		if bad >= 0 {
			live[bad].done <- errs[bad]
			live = append(live[:bad:bad], live[bad+1:]...)
			continue
		}
		for i, r := range live {
			if errs[i] == nil {
				errs[i] = err
			}
			r.done <- errs[i]
		}
		return
	}
}

// commitBatch runs the ops of live in one write transaction and commits
// it. errs holds each op's own error. When an op fails dirty, the
// transaction is rolled back and bad is its index (errs[bad] its error);
// otherwise bad is -1 and err is the commit's error, matching ErrCommit
// (and ErrNoSpace, ErrFailed as the case is), after which the DB may have
// failed (failure.go).
func (db *DB) commitBatch(live []*request) (errs []error, bad int, err error) {
	errs = make([]error, len(live))
	tx, err := db.bolt.Begin(true)
	if err != nil {
		return errs, -1, fmt.Errorf("%w: begin: %w", ErrCommit, err)
	}
	for i, r := range live {
		errs[i] = r.op(tx)
		var de *dirtyError
		if errors.As(errs[i], &de) {
			errs[i] = de.err
			tx.Rollback()
			return errs, i, nil
		}
	}
	txid := tx.ID()
	if db.failCommit != nil {
		err = db.failCommit()
	}
	if err == nil {
		err = tx.Commit()
	}
	if err == nil {
		return errs, -1, nil
	}
	// Commit closes the transaction on most of its failures, but not all
	// (a failure to write the free list leaves it open, holding the writer
	// lock); Rollback of a closed one is a no-op.
	tx.Rollback()
	visible := db.lastTxID() >= txid
	db.log.Error("commit failed", "file", db.path, "requests", len(live), "err", err, "visible", visible)
	if fatalCommit(err, visible) {
		db.markFailed(err)
		return errs, -1, db.Err()
	}
	return errs, -1, noSpace(fmt.Errorf("%w: %w", ErrCommit, err))
}

// lastTxID is the ID of the transaction readers see: after a failed
// commit, whether its meta page reached the page cache (the mmap).
func (db *DB) lastTxID() int {
	tx, err := db.bolt.Begin(false)
	if err != nil {
		return -1
	}
	defer tx.Rollback()
	return tx.ID()
}

// Probe commits an empty transaction: a cheap check that the spool accepts
// commits again (bbolt still writes its free list and meta page and syncs
// both). It fails as a write would (ErrCommit, ErrNoSpace, ErrFailed).
func (db *DB) Probe(ctx context.Context) error {
	return db.write(ctx, func(*bolt.Tx) error { return nil })
}
