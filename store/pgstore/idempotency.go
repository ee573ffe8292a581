package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outbox-mta/outbox/store"
)

// maxIdempotencyKey bounds store.Idempotency.Key, as bbolt's store does.
const maxIdempotencyKey = 1024

// EnqueueOnce is Enqueue for a submission with an idempotency key. In one
// transaction it looks rec.Key up: when a record created after since is
// there, it returns that record and stores nothing (the caller discards
// b); otherwise it commits m, b and rec together and returns nil.
// rec.Created is set to now when zero.
//
// Two nodes taking the same key at once: the second's INSERT ... ON
// CONFLICT waits for the first's transaction, then finds its row, so one
// message is stored and the other request gets the first's answer.
func (db *DB) EnqueueOnce(ctx context.Context, m *store.Message, b *store.Body, rec *store.Idempotency, since time.Time) (prior *store.Idempotency, err error) {
	if rec == nil || rec.Key == "" || len(rec.Key) > maxIdempotencyKey {
		return nil, errors.New("pgstore: EnqueueOnce needs a key of 1 to 1024 bytes")
	}
	if rec.Created.IsZero() {
		rec.Created = db.now()
	}
	err = db.enqueue(ctx, m, b, func(tx pgx.Tx) (bool, error) {
		prior = nil
		t, err := tx.Exec(ctx, `INSERT INTO idempotency (key, created_ns, request, response) VALUES ($1, $2, $3, $4)
			ON CONFLICT (key) DO NOTHING`, rec.Key, nanos(rec.Created), rec.Request[:], append([]byte{}, rec.Response...))
		if err != nil || t.RowsAffected() == 1 {
			return err == nil, err
		}
		p := &store.Idempotency{Key: rec.Key}
		var created int64
		var request []byte
		if err := tx.QueryRow(ctx, `SELECT created_ns, request, response FROM idempotency WHERE key = $1 FOR UPDATE`,
			rec.Key).Scan(&created, &request, &p.Response); err != nil {
			return false, err
		}
		p.Created = fromNanos(created)
		copy(p.Request[:], request)
		if p.Created.After(since) {
			prior = p
			return false, nil
		}
		// Past its retention: the key is free again.
		_, err = tx.Exec(ctx, `UPDATE idempotency SET created_ns = $2, request = $3, response = $4 WHERE key = $1`,
			rec.Key, nanos(rec.Created), rec.Request[:], append([]byte{}, rec.Response...))
		return err == nil, err
	})
	return prior, err
}
