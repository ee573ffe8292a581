package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/outbox-mta/outbox/store"
)

// ErrLeaseLost: an outcome was not recorded because this node no longer
// holds the message's lease (it paused or lost the database past the
// lease, and another node claimed the message). Another node's attempt
// stands; this one's result is dropped, as a crash would have dropped it.
var ErrLeaseLost = store.ErrLeaseLost

// classify makes an error of the database that is a condition of the
// spool rather than of one request match store.ErrCommit: the server
// unreachable or shutting down, a connection lost mid-transaction
// (including during COMMIT: the outcome is then unknown, and the caller
// answers 451 as for a lost connection), out of disk or memory, a
// read-only server (a standby after a failover). The queue pauses on it
// and the listeners answer 451 until Probe succeeds. A context's end, a
// store sentinel and an error of one request (requestError: a caller's
// fn, a constraint, bad data) are returned as they are.
func classify(err error) error {
	var re *requestError
	switch {
	case err == nil, errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, store.ErrCommit), errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrCorrupt),
		errors.Is(err, store.ErrClosed), errors.Is(err, ErrLeaseLost):
		return err
	case errors.As(err, &re):
		return re.err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && !spoolCondition(pe.Code) {
		return err
	}
	// Anything else is the connection's: refused, reset, timed out,
	// closed under a query.
	return fmt.Errorf("%w: %w", store.ErrCommit, err)
}

// spoolCondition reports whether a PostgreSQL error code (Appendix A of
// its manual) is a condition of the server rather than of the statement.
func spoolCondition(code string) bool {
	if code == "25006" { // read_only_sql_transaction: a standby
		return true
	}
	switch code[:min(2, len(code))] {
	case "08", // connection exception
		"53", // insufficient resources: disk full, out of memory, too many connections
		"57", // operator intervention: shutdown, cannot connect now
		"58", // system error: I/O
		"XX": // internal error
		return true
	}
	return false
}

// requestError marks an error of one request, which classify must not
// take for the spool's: a caller's Update fn, a refused Enqueue.
type requestError struct{ err error }

func (e *requestError) Error() string { return e.err.Error() }
func (e *requestError) Unwrap() error { return e.err }
