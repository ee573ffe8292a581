package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outbox-mta/outbox/store"
)

// Due returns up to limit IDs of messages whose next attempt is at or
// before now, earliest first, skipping those for which skip returns true
// (skip may be nil). limit <= 0 means no limit. It claims nothing (see
// Claim): a message another node has claimed is left out until its
// lease ends (lease.go); this node's own claims are not (the queue skips
// what it has in flight).
func (db *DB) Due(ctx context.Context, now time.Time, limit int, skip func(id string) bool) ([]string, error) {
	return db.due(ctx, -1, now, limit, skip)
}

// DueLane is Due within lane p alone: the scheduler's seek, one lane at a
// time, so that a backlog in one lane never hides another's due mail
// (index messages_lane_due).
func (db *DB) DueLane(ctx context.Context, p store.Priority, now time.Time, limit int, skip func(id string) bool) ([]string, error) {
	return db.due(ctx, int(p), now, limit, skip)
}

// due is Due within lane (-1: every lane).
func (db *DB) due(ctx context.Context, lane int, now time.Time, limit int, skip func(id string) bool) ([]string, error) {
	var ids []string
	after := int64(-1)
	afterID := ""
	// A page a little past limit: the scheduler asks for a few IDs at a
	// time (its free workers), and skip drops this node's messages in
	// flight; a backlog of thousands is not read whole on every wake.
	page := 500
	if limit > 0 {
		page = min(page, limit+64)
	}
	for {
		rows, err := db.pool.Query(ctx, `SELECT id, due_ns FROM messages
			WHERE due_ns <= $1 AND (due_ns, id) > ($2, $3) AND (lease_until_ns < $5 OR lease_owner = $6)
				AND ($7 < 0 OR lane = $7)
			ORDER BY due_ns, id LIMIT $4`,
			dueNanos(now), after, afterID, page, nanos(db.now()), db.opts.Node, lane)
		if err != nil {
			return nil, classify(err)
		}
		n := 0
		for rows.Next() {
			var id string
			var due int64
			if err := rows.Scan(&id, &due); err != nil {
				rows.Close()
				return nil, classify(err)
			}
			n++
			after, afterID = due, id
			if skip != nil && skip(id) {
				continue
			}
			if ids = append(ids, id); limit > 0 && len(ids) >= limit {
				break
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, classify(err)
		}
		if n < page || (limit > 0 && len(ids) >= limit) {
			return ids, nil
		}
	}
}

// NextDue returns the earliest next-attempt time in the queue, false when
// nothing is pending. A message due "as soon as possible" reports the
// epoch. A message another node has claimed counts from its lease's end,
// when it is this node's to take if that node has not recorded an
// outcome (it died): the earliest of the first message not claimed by
// another node (the due index, filtered) and the first lease of another
// node to end (the leases index).
func (db *DB) NextDue(ctx context.Context) (time.Time, bool, error) {
	var due, lease *int64
	err := db.pool.QueryRow(ctx, `SELECT
		(SELECT due_ns FROM messages WHERE due_ns IS NOT NULL AND (lease_until_ns < $1 OR lease_owner = $2)
			ORDER BY due_ns, id LIMIT 1),
		(SELECT min(lease_until_ns) FROM messages WHERE lease_until_ns >= $1 AND lease_owner <> $2 AND due_ns IS NOT NULL)`,
		nanos(db.now()), db.opts.Node).Scan(&due, &lease)
	if err != nil {
		return time.Time{}, false, classify(err)
	}
	switch {
	case due == nil && lease == nil:
		return time.Time{}, false, nil
	case due == nil || (lease != nil && *lease < *due):
		return fromNanos(*lease + 1), true, nil
	}
	return fromNanos(*due), true, nil
}

// dueNanos is now as a due index bound (the zero time is the epoch).
func dueNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return nanos(t)
}

// PendingNotices returns the IDs of the messages whose DSNPending flag is
// set, in ID order.
func (db *DB) PendingNotices(ctx context.Context) ([]string, error) {
	rows, err := db.pool.Query(ctx, `SELECT id FROM messages WHERE dsn_pending ORDER BY id`)
	if err != nil {
		return nil, classify(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, classify(err)
}

// List returns messages matching f in ID order (arrival order). Pass the
// last ID of a page as f.After to get the next one. The filter is
// store.Filter.Match, applied to the records as bbolt's List does; only
// finished messages are left out by the query when f.Done is false.
func (db *DB) List(ctx context.Context, f store.Filter) ([]*store.Message, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = store.DefaultListLimit
	}
	limit = min(limit, store.MaxListLimit)
	var out []*store.Message
	corrupt := map[string]error{}
	after := f.After
	const page = 500
	for len(out) < limit {
		rows, err := db.pool.Query(ctx, `SELECT id, record FROM messages
			WHERE id > $1 AND ($2 OR NOT done) ORDER BY id LIMIT $3`, after, f.Done, page)
		if err != nil {
			return nil, fmt.Errorf("pgstore: list: %w", classify(err))
		}
		n := 0
		for len(out) < limit && rows.Next() {
			var id string
			var raw []byte
			if err := rows.Scan(&id, &raw); err != nil {
				rows.Close()
				return nil, classify(err)
			}
			n++
			after = id
			m, err := store.DecodeMessage(raw)
			if err != nil {
				corrupt[id] = err
				continue
			}
			m.ID = id
			if f.Match(m) {
				out = append(out, m)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil && !errors.Is(err, context.Canceled) {
			return nil, classify(err)
		}
		if n < page {
			break
		}
	}
	for id, cerr := range corrupt {
		db.quarantine(ctx, id, cerr)
	}
	return out, nil
}
