package pgstore

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/outbox-mta/outbox/store"
)

// Import copies one message of another spool as it is: its ID, record
// (store.EncodeMessage) and body, whose bytes are what the other spool's
// OpenBody returned (its prefix included, so the prefix here is empty and
// Size is unchanged). A message already there is left alone, so a copy
// that was interrupted can be run again. It reports whether m was stored.
func (db *DB) Import(ctx context.Context, m *store.Message, body []byte) (bool, error) {
	var stored bool
	err := db.tx(ctx, func(tx pgx.Tx) error {
		var err error
		if stored, err = insertMessage(ctx, tx, m, "ON CONFLICT (id) DO NOTHING"); err != nil || !stored {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO bodies (id, prefix, body) VALUES ($1, '', $2)`, m.ID, body)
		return err
	})
	return stored, err
}

// ImportLogs copies the bounce log, the quarantine and the idempotency
// records of another spool, in one transaction, replacing what this
// database holds of them (so a copy run again does not double them).
func (db *DB) ImportLogs(ctx context.Context, bounces []store.Bounce, quarantined []store.Quarantined, idem []store.Idempotency) error {
	return db.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM bounces; DELETE FROM quarantine; DELETE FROM idempotency`); err != nil {
			return err
		}
		for _, b := range bounces {
			if _, err := tx.Exec(ctx, `INSERT INTO bounces (time_ns, msg_id, sender, rcpt, host, code, enhanced, diag, attempts)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, nanos(b.Time), b.MsgID, b.From, b.Rcpt, b.Host, b.Code,
				b.Enhanced, b.Diag, b.Attempts); err != nil {
				return err
			}
		}
		for _, q := range quarantined {
			if _, err := tx.Exec(ctx, `INSERT INTO quarantine (id, time_ns, reason, raw) VALUES ($1, $2, $3, $4)`,
				q.ID, nanos(q.Time), q.Reason, append([]byte{}, q.Raw...)); err != nil {
				return err
			}
		}
		for _, r := range idem {
			if _, err := tx.Exec(ctx, `INSERT INTO idempotency (key, created_ns, request, response) VALUES ($1, $2, $3, $4)`,
				r.Key, nanos(r.Created), r.Request[:], append([]byte{}, r.Response...)); err != nil {
				return err
			}
		}
		return nil
	})
}
