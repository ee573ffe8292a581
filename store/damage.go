package store

import (
	"errors"
	"fmt"
	"runtime/debug"
)

// Damage.
//
// bbolt answers a damaged file (flipped bytes in a live page, a truncated
// file) not with errors but with panics — "page 46 already freed",
// "assertion failed: Page expected to be ..." — and, when a mapped page
// lies past the end of the file, with SIGBUS, which the Go runtime turns
// into a fatal error. The store never lets either escape: every call into
// bbolt runs under guard, which turns a memory fault into a panic for its
// goroutine (debug.SetPanicOnFault) and the panic into a *DamageError. The
// first one marks the DB damaged: every later operation fails at once with
// the same error (bbolt's state after a panic is not to be trusted), and
// Failed is closed so the daemon can stop and tell the operator what to
// do rather than crash, restart, and crash again.

// DamageError reports a damaged spool file. It matches ErrDamaged.
type DamageError struct {
	Path    string // the damaged file
	Problem string // what was found, in bbolt's words where it panicked
}

func (e *DamageError) Error() string {
	return fmt.Sprintf("store: spool file %s is damaged: %s", e.Path, e.Problem)
}

// Is makes errors.Is(err, ErrDamaged) hold.
func (e *DamageError) Is(target error) bool { return target == ErrDamaged }

// panicProblem describes a recovered panic value.
func panicProblem(p any) string {
	var re interface{ Addr() uintptr }
	if err, ok := p.(error); ok && errors.As(err, &re) {
		return fmt.Sprintf("memory fault reading the mapped file (%v): it is shorter than its pages say, or unreadable", err)
	}
	return fmt.Sprintf("bbolt panicked: %v", p)
}

// guardFile runs fn, turning a bbolt panic or a fault on the mapped file
// into a *DamageError for path.
func guardFile(path string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = &DamageError{Path: path, Problem: panicProblem(p)}
		}
	}()
	return fn()
}

// guard runs fn as guardFile does; a damage found marks db damaged. A DB
// already damaged fails at once.
func (db *DB) guard(fn func() error) error {
	if de := db.damage(); de != nil {
		return de
	}
	err := guardFile(db.path, fn)
	var de *DamageError
	if errors.As(err, &de) {
		db.setDamaged(de)
	}
	return err
}

// damage is the damage found so far, nil while none.
func (db *DB) damage() *DamageError {
	err := db.Err()
	if err == nil {
		return nil // the common case, checked on every transaction: no allocation
	}
	var de *DamageError
	if errors.As(err, &de) {
		return de
	}
	return nil
}

// setDamaged records the damage found as the DB's failure (failure.go).
func (db *DB) setDamaged(de *DamageError) {
	if db.stop(de) {
		db.log.Error("spool damaged; stopping all use of it", "file", de.Path, "problem", de.Problem)
	}
}
