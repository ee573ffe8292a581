package pgstore

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/outbox-mta/outbox/store"
)

// Stats counts the spool without reading a record: every row carries its
// recipients by state and its unfinished recipients by domain (derived
// from the record in the statement that writes it), and the query sums
// them; the oldest pending message is the first entry of the arrival
// index. It counts what the database holds, whichever node wrote it.
// Unlike bbolt's in-memory counts, a call is a scan of the messages
// table's small columns (the domains of finished messages are empty).
func (db *DB) Stats(ctx context.Context) (store.Stats, error) {
	s := store.Stats{Recipients: map[store.State]int{}, Domains: map[string]store.DomainCount{}}
	err := db.tx(ctx, func(tx pgx.Tx) error {
		// One snapshot for every count.
		if _, err := tx.Exec(ctx, `SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY`); err != nil {
			return err
		}
		var n [store.StateHeld + 1]int
		if err := tx.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE pending),
			coalesce(sum(queued), 0), coalesce(sum(deferred), 0), coalesce(sum(delivered), 0),
			coalesce(sum(bounced), 0), coalesce(sum(held), 0) FROM messages`).Scan(&s.Messages, &s.Pending,
			&n[store.StateQueued], &n[store.StateDeferred], &n[store.StateDelivered], &n[store.StateBounced], &n[store.StateHeld]); err != nil {
			return err
		}
		for st, c := range n {
			if c != 0 {
				s.Recipients[store.State(st)] = c
			}
		}
		if err := domainCounts(ctx, tx, s.Domains); err != nil {
			return err
		}
		var oldest int64
		err := tx.QueryRow(ctx, `SELECT received_ns, id FROM messages WHERE pending ORDER BY received_ns, id LIMIT 1`).
			Scan(&oldest, &s.OldestPendingID)
		if err == nil {
			s.OldestPending = fromNanos(oldest)
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		return tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM bounces), (SELECT count(*) FROM quarantine),
			pg_database_size(current_database())`).Scan(&s.Bounces, &s.Quarantined, &s.FileSize)
	})
	return s, err
}

// domainCounts sums the unfinished recipients by domain into out.
func domainCounts(ctx context.Context, tx pgx.Tx, out map[string]store.DomainCount) error {
	rows, err := tx.Query(ctx, `SELECT d.key, sum((d.value->>0)::int), sum((d.value->>1)::int), sum((d.value->>2)::int)
		FROM messages, jsonb_each(domains) AS d WHERE NOT done GROUP BY d.key`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var dom string
		var c store.DomainCount
		if err := rows.Scan(&dom, &c.Queued, &c.Deferred, &c.Held); err != nil {
			return err
		}
		out[dom] = c
	}
	return rows.Err()
}
