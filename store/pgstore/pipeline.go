package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Round trips. At thousands of messages a second a node spends more time
// waiting for the server's answers than on its work or the server's, so
// the hot transactions travel in as few round trips as the logic allows
// (roundtrip_test.go counts them): a transaction's BEGIN goes with its
// first statement and its COMMIT with its writes, in one pipelined batch
// (the extended protocol's pipelining: the statements run in order up to
// the Sync, and the first error skips the rest, COMMIT included). Enqueue
// is one round trip; Claim one, which brings the record and body the
// delivery reads (prefetch.go) and, while the suppression list is empty,
// spares its look-up (listcache.go); the outcome of a claimed delivery
// one (outcome.go). Any other Update is two (its read under the row lock,
// then the writes and COMMIT), three when the suppression list has
// entries (their read), four when some are its recipients' (their locks
// and a read under them). Concurrent Enqueues share one (group.go).
// COMMIT's answer still comes only once its WAL is flushed
// (synchronous_commit on): the guarantee is the statement's, not the
// round trip's.

// dbtx is what a transaction's statements run on: a pgx.Tx, or a pooled
// connection inside a transaction that a pipelined batch began.
type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// rollbackWait bounds the ROLLBACK after a failed pipelined transaction.
const rollbackWait = 5 * time.Second

// abort ends the transaction c is in, if any, after an error: a ROLLBACK,
// whose failure leaves the connection outside the idle state, so that the
// pool closes it rather than lending it again.
func abort(ctx context.Context, c *pgxpool.Conn) {
	if c.Conn().IsClosed() || c.Conn().PgConn().TxStatus() == 'I' {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackWait)
	defer cancel()
	_, _ = c.Exec(ctx, "ROLLBACK")
}

// discard closes c's connection after a batch failed on it, which rolls
// back its transaction: the server skipped every message after the
// failing statement up to the batch's end, the preparation of statements
// new to the connection among them, which pgx's statement cache may then
// take for prepared. A new connection is cheaper than that doubt, and
// failures are rare (a message the server refuses, a server going away).
func discard(ctx context.Context, c *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackWait)
	defer cancel()
	_ = c.Conn().Close(ctx)
}

// sendBatch sends b on c in one round trip; a failure discards c's
// connection, unless it is a query's finding no row (every statement
// ran). The error is unclassified.
func sendBatch(ctx context.Context, c *pgxpool.Conn, b *pgx.Batch) error {
	err := c.SendBatch(ctx, b).Close()
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		discard(ctx, c)
	}
	return err
}

// commitBatch sends b's statements followed by COMMIT in one round trip
// on c, which is inside a transaction; on an error the transaction is
// rolled back (sendBatch). The error is unclassified.
func commitBatch(ctx context.Context, c *pgxpool.Conn, b *pgx.Batch) error {
	b.Queue("COMMIT")
	if err := sendBatch(ctx, c, b); err != nil {
		abort(ctx, c)
		return err
	}
	return nil
}
