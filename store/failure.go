package store

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
)

// Fail-stop.
//
// A commit that fails may or may not have reached the file. bbolt writes
// the transaction's pages, fdatasyncs, then writes the meta page that makes
// them live, and fdatasyncs again. Two cases are safe to survive:
//
//   - The commit failed before its meta page was written (the file could not
//     grow, a page write or the first fdatasync failed): the pages written
//     are free pages no meta page points to, bbolt rolls its free list back,
//     and nothing of the batch is visible. When the cause is a full disk
//     (ENOSPC, EDQUOT) the DB stays usable and writes succeed again once
//     space is freed.
//   - The failure is not the file system's (the commit never reached it).
//
// Every other failure is fatal to this DB:
//
//   - The meta page was written but its fdatasync failed (whatever the
//     errno): the page cache, which bbolt's mmap reads, already shows the
//     new transaction while the disk may not hold it. Readers would see
//     messages whose commit was reported failed (and answered 451), and a
//     later commit would build on pages that may never reach the disk.
//   - Any other OS error (EIO, EROFS, ...): the device lost or refused a
//     write. Linux reports a writeback error to one fsync only and may drop
//     the dirty pages, so a later fsync that succeeds proves nothing
//     (PostgreSQL's "fsyncgate", 2018: it panics and recovers from its log
//     rather than trust the page cache).
//
// A fatal failure marks the DB failed: every later write and read returns
// an error matching ErrFailed (and ErrCommit), and Failed is closed. The
// owner must close the DB and reopen the file, as a restart does: bbolt then
// reads what is on disk, the last meta page that was synced (or the failed
// commit's, if it did reach the disk: see doc.go for the duplicate this
// allows).

// failState is the DB's fail-stop state, shared by the two ways a DB stops
// for good: a fatal commit failure (this file) and a damaged file
// (damage.go). The zero value is "not failed"; the first failure wins.
type failState struct {
	ch  chan struct{} // closed on failure; made by Open
	mu  sync.Mutex
	err error
}

// Failed is closed when the DB has failed or its file was found damaged
// (see Err). A daemon watches it to stop accepting mail and exit: with
// ErrFailed a restart reopens the file; with ErrDamaged it must not restart
// on it (see damage.go).
func (db *DB) Failed() <-chan struct{} { return db.fail.ch }

// Err is nil while the DB is usable; afterwards it is the error every later
// operation returns: one matching ErrFailed and ErrCommit after a fatal
// commit failure, or a *DamageError (ErrDamaged). Both name the file.
func (db *DB) Err() error {
	db.fail.mu.Lock()
	defer db.fail.mu.Unlock()
	return db.fail.err
}

// stop records err as the DB's failure and closes Failed; it reports
// whether err was the first failure.
func (db *DB) stop(err error) bool {
	db.fail.mu.Lock()
	defer db.fail.mu.Unlock()
	if db.fail.err != nil {
		return false
	}
	db.fail.err = err
	close(db.fail.ch)
	return true
}

// markFailed records a fatal commit failure and logs it once.
func (db *DB) markFailed(cause error) {
	if db.stop(&failedError{path: db.path, cause: cause}) {
		db.log.Error("spool failed: a commit's outcome on disk is unknown; no further reads or writes until it is reopened",
			"file", db.path, "err", cause)
	}
}

// fatalCommit reports whether a failed commit leaves the DB's state
// unknown (see the comment at the top of this file). visible says whether
// the failed transaction's meta page is seen by readers. Pure, table-tested.
func fatalCommit(err error, visible bool) bool {
	if visible {
		return true
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return false
	}
	var errno syscall.Errno
	return errors.As(err, &errno)
}

// failedError is the error of a failed DB: it matches ErrFailed, ErrCommit
// and its cause.
type failedError struct {
	path  string
	cause error
}

func (e *failedError) Error() string {
	return fmt.Sprintf("store: spool %s failed (reopen it): %v", e.path, e.cause)
}

func (e *failedError) Unwrap() []error { return []error{ErrFailed, ErrCommit, e.cause} }
