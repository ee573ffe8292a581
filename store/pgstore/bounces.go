package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outbox-mta/outbox/store"
)

// queueBounces queues a bounce log row for each recipient of after that
// is Bounced and was not in before (matched by address), in the batch
// that commits the change: the log and the records never disagree.
func (db *DB) queueBounces(batch *pgx.Batch, before, after *store.Message) {
	was := make(map[string]bool, len(before.Recipients))
	for _, r := range before.Recipients {
		if r.State == store.StateBounced {
			was[r.Addr] = true
		}
	}
	for _, r := range after.Recipients {
		if r.State != store.StateBounced || was[r.Addr] {
			continue
		}
		row := store.Bounce{Time: db.now(), MsgID: after.ID, From: after.From, Rcpt: r.Addr, Diag: r.LastReply, Attempts: r.Attempts}
		if n := len(r.History); n > 0 {
			a := r.History[n-1]
			row.Time, row.Host, row.Code, row.Enhanced = a.Time, a.Host, a.Code, a.Enhanced
			if a.Reply != "" {
				row.Diag = a.Reply
			}
			if row.Time.IsZero() {
				row.Time = db.now()
			}
		}
		batch.Queue(`INSERT INTO bounces (time_ns, msg_id, sender, rcpt, host, code, enhanced, diag, attempts)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, nanos(row.Time), row.MsgID, row.From, row.Rcpt,
			row.Host, row.Code, row.Enhanced, row.Diag, row.Attempts)
	}
}

// Bounces returns bounce log rows at or after since, oldest first.
func (db *DB) Bounces(ctx context.Context, since time.Time) ([]store.Bounce, error) {
	var start int64
	if !since.IsZero() {
		start = nanos(since)
	}
	rows, err := db.pool.Query(ctx, `SELECT time_ns, msg_id, sender, rcpt, host, code, enhanced, diag, attempts
		FROM bounces WHERE time_ns >= $1 ORDER BY time_ns, seq`, start)
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Bounce, error) {
		var b store.Bounce
		var t int64
		err := r.Scan(&t, &b.MsgID, &b.From, &b.Rcpt, &b.Host, &b.Code, &b.Enhanced, &b.Diag, &b.Attempts)
		b.Time = fromNanos(t)
		return b, err
	})
	return out, classify(err)
}

// PruneBounces removes bounce log rows older than before and reports how
// many.
func (db *DB) PruneBounces(ctx context.Context, before time.Time) (int, error) {
	t, err := db.pool.Exec(ctx, `DELETE FROM bounces WHERE time_ns < $1`, nanos(before))
	if err != nil {
		return 0, classify(err)
	}
	return int(t.RowsAffected()), nil
}

// nanos is t as bbolt's keys have it: unix nanoseconds, never below 0.
func nanos(t time.Time) int64 { return max(t.UnixNano(), 0) }

// fromNanos is the inverse of nanos.
func fromNanos(n int64) time.Time { return time.Unix(0, n) }
