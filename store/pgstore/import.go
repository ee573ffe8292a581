package pgstore

import (
	"context"
	"encoding/json"

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

// Shared is the state of another spool beside its messages and logs that
// ImportShared copies.
type Shared struct {
	// Events is the event log with its numbers, and LastEventSeq the
	// newest number the source handed out: the sequence continues after
	// it, so the source's followers and webhook cursors resume where
	// they were.
	Events       []store.Event
	LastEventSeq uint64
	Suppressions []store.Suppression
	TLSLevels    map[string]uint8
	TLSReports   []store.TLSReport
	Cursors      []store.WebhookCursor
}

// ImportShared copies s in one transaction, replacing what this database
// holds of it (so a copy run again does not double it). The MTA-STS
// policies are a cache and are fetched again; the counts of consecutive
// expirations start again.
func (db *DB) ImportShared(ctx context.Context, s Shared) error {
	return db.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM events; DELETE FROM suppressions; DELETE FROM suppress_strikes;
			DELETE FROM tls_levels; DELETE FROM tls_reports; DELETE FROM webhook_cursors`); err != nil {
			return err
		}
		rows := make([][]any, 0, len(s.Events))
		for _, e := range s.Events {
			seq := e.Seq
			e.Seq = 0 // stored unnumbered, as the sequencer's rows (webhooks.go: numbered)
			js, err := json.Marshal(&e)
			if err != nil {
				return err
			}
			rows = append(rows, []any{int64(seq), nanos(e.Time), e.User, js})
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"events"}, []string{"seq", "time_ns", "usr", "event"},
			pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		if s.LastEventSeq > 0 {
			if _, err := tx.Exec(ctx, `SELECT setval('event_seq', $1)`, int64(s.LastEventSeq)); err != nil {
				return err
			}
		}
		for _, x := range s.Suppressions {
			if err := putSuppression(ctx, tx, x); err != nil {
				return err
			}
		}
		for d, l := range s.TLSLevels {
			if _, err := tx.Exec(ctx, `INSERT INTO tls_levels (domain, level) VALUES ($1, $2)`, d, int16(l)); err != nil {
				return err
			}
		}
		for _, r := range s.TLSReports {
			if _, err := tx.Exec(ctx, `INSERT INTO tls_reports (day, domain, data) VALUES ($1, $2, $3)`,
				r.Day, r.Domain, append([]byte{}, r.Data...)); err != nil {
				return err
			}
		}
		for _, c := range s.Cursors {
			v, err := json.Marshal(c)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO webhook_cursors (endpoint, cursor) VALUES ($1, $2)`, c.Endpoint, v); err != nil {
				return err
			}
		}
		return nil
	})
}
