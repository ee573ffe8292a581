package store

import (
	"errors"
	"syscall"
)

// Sentinel errors of the store. Match them with errors.Is: the store wraps
// them with the message ID or the underlying cause.
var (
	// ErrNotFound: no message (or quarantined record) has this ID.
	ErrNotFound = errors.New("store: message not found")
	// ErrCorrupt: a stored record does not decode, or a message's body
	// cannot be read. The message has been (or is being) moved to the
	// quarantine bucket; see DB.Quarantined.
	ErrCorrupt = errors.New("store: corrupt record")
	// ErrClosed: the DB has been closed.
	ErrClosed = errors.New("store: closed")
	// ErrTooBig: a body grew past Options.MaxBodySize.
	ErrTooBig = errors.New("store: message too big")
	// ErrNoSpace: the disk is full (ENOSPC) while writing a body or
	// committing. The error also matches the underlying *os.PathError or
	// syscall.Errno. Nothing committed earlier is damaged and the DB stays
	// usable; writes succeed again once space is freed.
	ErrNoSpace = errors.New("store: no space left on device")
	// ErrLocked: another process (or another DB in this process) holds the
	// spool's file lock and did not release it within Options.LockTimeout.
	ErrLocked = errors.New("store: spool is locked by another process")
	// ErrCommit: the spool could not commit a write (disk full, I/O error):
	// the write is not recorded. It is a condition of the spool, not of the
	// message: every write fails alike until it clears (ErrNoSpace) or the
	// DB has failed (ErrFailed).
	ErrCommit = errors.New("store: commit failed")
	// ErrFailed: a commit failed in a way that leaves the file's state
	// unknown (an I/O error, or a meta page written but not synced; see
	// failure.go). Every later operation of this DB fails with it; the
	// owner must close and reopen the spool. It also matches ErrCommit.
	ErrFailed = errors.New("store: spool failed")
	// ErrDamaged: spool.db is damaged (bytes changed under bbolt, a
	// truncated file): bbolt panicked or faulted reading it. The error is a
	// *DamageError naming the file. Once met, every operation of the DB
	// fails with it (see DB.Failed); `outbox spool check` and
	// `outbox spool salvage` are the way out.
	ErrDamaged = errors.New("store: spool file damaged")
	// ErrLeaseLost: on a spool shared by several nodes (store/pgstore), an
	// outcome was not recorded because this node no longer held the
	// message's lease: it paused past it and another node took the
	// message over. The other node's attempt stands.
	ErrLeaseLost = errors.New("store: lease lost to another node")
)

// noSpace wraps err so that it also matches ErrNoSpace when it is an ENOSPC
// (or EDQUOT, which callers handle the same way: free space, then retry).
func noSpace(err error) error {
	if err == nil || errors.Is(err, ErrNoSpace) {
		return err
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return &noSpaceError{err}
	}
	return err
}

// noSpaceError matches both ErrNoSpace and its cause; its text is the
// cause's, which already says "no space left on device".
type noSpaceError struct{ err error }

func (e *noSpaceError) Error() string   { return e.err.Error() }
func (e *noSpaceError) Unwrap() []error { return []error{ErrNoSpace, e.err} }
