package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// pruneChunk bounds the rows one prune transaction deletes, so a prune
// never holds locks long enough to delay submissions noticeably.
const pruneChunk = 1000

// PruneMessages removes messages whose recipients are all final and that
// were received before before, with their bodies, and reports how many.
func (db *DB) PruneMessages(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		var n int
		err := db.pool.QueryRow(ctx, `WITH d AS (
				DELETE FROM messages WHERE id IN (
					SELECT id FROM messages WHERE done AND received_ns < $1 ORDER BY received_ns, id LIMIT $2
					FOR UPDATE SKIP LOCKED)
				RETURNING id),
			b AS (DELETE FROM bodies WHERE id IN (SELECT id FROM d))
			SELECT count(*) FROM d`, nanos(before), pruneChunk).Scan(&n)
		if err != nil {
			return total, classify(err)
		}
		total += n
		if n < pruneChunk {
			break
		}
	}
	if total > 0 {
		db.log.Info("pruned", "messages", total, "before", before)
	}
	return total, nil
}

// PruneIdempotency removes the idempotency records created before before
// and reports how many.
func (db *DB) PruneIdempotency(ctx context.Context, before time.Time) (int, error) {
	t, err := db.pool.Exec(ctx, `DELETE FROM idempotency WHERE created_ns < $1`, nanos(before))
	if err != nil {
		return 0, classify(err)
	}
	return int(t.RowsAffected()), nil
}

// Probe makes a write transaction that commits nothing: does the
// database accept commits again? txid_current assigns a transaction ID,
// which a read-only standby refuses.
func (db *DB) Probe(ctx context.Context) error {
	return db.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT txid_current()`)
		return err
	})
}
