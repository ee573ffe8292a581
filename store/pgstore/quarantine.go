package pgstore

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/outbox-mta/outbox/store"
)

// quarantine moves id's record to the quarantine table in its own
// transaction, after a read met it; failures are logged (the caller
// already reports the corruption).
func (db *DB) quarantine(ctx context.Context, id string, reason error) {
	err := db.tx(context.WithoutCancel(ctx), func(tx pgx.Tx) error {
		var raw []byte
		err := tx.QueryRow(ctx, `SELECT record FROM messages WHERE id = $1 FOR UPDATE`, id).Scan(&raw)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, derr := store.DecodeMessage(raw); derr == nil && !errors.Is(reason, store.ErrCorrupt) {
			return nil // rewritten since it was read
		}
		return db.quarantineTx(ctx, tx, id, raw, reason)
	})
	if err != nil {
		db.log.Error("quarantine failed", "msgid", id, "err", err)
	}
}

// quarantineTx moves id's record (raw) to quarantine with reason.
func (db *DB) quarantineTx(ctx context.Context, tx dbtx, id string, raw []byte, reason error) error {
	if _, err := tx.Exec(ctx, `INSERT INTO quarantine (id, time_ns, reason, raw) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO NOTHING`, id, nanos(db.now()), reason.Error(), raw); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM messages WHERE id = $1`, id); err != nil {
		return err
	}
	db.log.Error("message quarantined", "msgid", id, "reason", reason.Error(), "bytes", len(raw))
	return nil
}

// Quarantined lists the quarantined records in ID order.
func (db *DB) Quarantined(ctx context.Context) ([]store.Quarantined, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, time_ns, reason, raw FROM quarantine ORDER BY id`)
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Quarantined, error) {
		var q store.Quarantined
		var t int64
		err := r.Scan(&q.ID, &t, &q.Reason, &q.Raw)
		q.Time = fromNanos(t)
		return q, err
	})
	return out, classify(err)
}
