package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outbox-mta/outbox/store"
)

// The suppression list: tables suppressions and suppress_strikes, with the
// rules of store.ApplyListings, applied in the transaction of the outcome
// that causes them (Update). Concurrent outcomes for one address, on any
// node, take its advisory lock first (lockKeys), so counts add up as
// bbolt's single writer adds them.

// Suppress adds s to the list, replacing an entry for the same address.
// s.Addr is normalised; a zero Created is now.
func (db *DB) Suppress(ctx context.Context, s store.Suppression) (store.Suppression, error) {
	s, err := store.PrepareSuppression(s, db.now())
	if err != nil {
		return s, err
	}
	err = db.tx(ctx, func(tx pgx.Tx) error {
		if err := putSuppression(ctx, tx, s); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM suppress_strikes WHERE addr = $1`, s.Addr)
		return err
	})
	if err == nil {
		db.leases.bump()
	}
	return s, err
}

// Unsuppress removes addr's entry (and its count of consecutive
// outcomes); store.ErrNotFound when it has none.
func (db *DB) Unsuppress(ctx context.Context, addr string) error {
	key := store.NormalizeAddress(addr)
	if key == "" {
		return store.ErrBadAddress
	}
	return db.tx(ctx, func(tx pgx.Tx) error {
		t, err := tx.Exec(ctx, `DELETE FROM suppressions WHERE addr = $1`, key)
		if err != nil {
			return err
		}
		if t.RowsAffected() == 0 {
			return &requestError{fmt.Errorf("%w: %s is not suppressed", store.ErrNotFound, key)}
		}
		_, err = tx.Exec(ctx, `DELETE FROM suppress_strikes WHERE addr = $1`, key)
		return err
	})
}

const suppressionColumns = `addr, reason, reply, msg_id, created_ns, expires_ns`

// Suppressions lists up to limit entries (0: all) with an address after
// after, in address order, expired ones included.
func (db *DB) Suppressions(ctx context.Context, after string, limit int) ([]store.Suppression, error) {
	var lim *int
	if limit > 0 {
		lim = &limit
	}
	rows, err := db.pool.Query(ctx, `SELECT `+suppressionColumns+` FROM suppressions
		WHERE addr > $1 ORDER BY addr LIMIT $2`, after, lim)
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, scanSuppression)
	return out, classify(err)
}

// Suppression returns addr's entry, active or expired; store.ErrNotFound
// when it has none.
func (db *DB) Suppression(ctx context.Context, addr string) (store.Suppression, error) {
	key := store.NormalizeAddress(addr)
	if key == "" {
		return store.Suppression{}, store.ErrBadAddress
	}
	s, ok, err := getSuppression(ctx, db.pool, key)
	if err == nil && !ok {
		err = fmt.Errorf("%w: %s is not suppressed", store.ErrNotFound, key)
	}
	return s, classify(err)
}

// Suppressed returns the active entries (at now) of addrs, keyed by the
// address as given; addresses without one are absent.
func (db *DB) Suppressed(ctx context.Context, addrs []string, now time.Time) (map[string]store.Suppression, error) {
	keys := make([]string, 0, len(addrs))
	for _, a := range addrs {
		if k := store.NormalizeAddress(a); k != "" {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 || db.leases.knownClear(addrs) { // listcache.go
		return nil, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT `+suppressionColumns+` FROM suppressions WHERE addr = ANY($1)`, keys)
	if err != nil {
		return nil, classify(err)
	}
	found, err := pgx.CollectRows(rows, scanSuppression)
	if err != nil {
		return nil, classify(err)
	}
	var out map[string]store.Suppression
	for _, a := range addrs {
		k := store.NormalizeAddress(a)
		i := slices.IndexFunc(found, func(s store.Suppression) bool { return s.Addr == k })
		if k == "" || i < 0 || !found[i].Active(now) {
			continue
		}
		if out == nil {
			out = make(map[string]store.Suppression)
		}
		out[a] = found[i]
	}
	return out, nil
}

// PruneSuppressions removes the entries that expired before now and
// reports how many.
func (db *DB) PruneSuppressions(ctx context.Context, now time.Time) (int, error) {
	t, err := db.pool.Exec(ctx, `DELETE FROM suppressions WHERE expires_ns <> 0 AND expires_ns <= $1`, timeNanos(now))
	if err != nil {
		return 0, classify(err)
	}
	return int(t.RowsAffected()), nil
}

// applyListings carries out store.ApplyListings for the change from
// before to after in tx, its writes queued in batch (sent with the
// COMMIT). listed reports whether the list had any entry or count when
// the message was read: when it had none, a delivery reads nothing (a
// listing that commits after that read is ordered after this change, as
// below). The entries and counts of the addresses it may
// touch are read in one query; when there are none and no listing, a
// delivery changes nothing and takes no lock (a listing that commits
// later is ordered after it, as a later one would be). Otherwise it
// takes their locks, reads them again and applies the rules.
//
// It reports whether it queued an entry's addition (listcache.go).
func (db *DB) applyListings(ctx context.Context, tx dbtx, batch *pgx.Batch, listed bool, before, after *store.Message) (bool, error) {
	var addrs []string
	for _, r := range after.Recipients {
		if r.State == store.StateDelivered {
			addrs = append(addrs, store.NormalizeAddress(r.Addr))
		}
	}
	for _, l := range after.Suppress {
		addrs = append(addrs, store.NormalizeAddress(l.Addr))
	}
	if len(addrs) == 0 || (!listed && len(after.Suppress) == 0) {
		return false, nil
	}
	if len(after.Suppress) == 0 {
		l, err := loadList(ctx, tx, batch, addrs, false)
		if err != nil || l.empty() {
			return false, err
		}
	}
	l, err := loadList(ctx, tx, batch, addrs, true)
	if err != nil {
		return false, err
	}
	err = store.ApplyListings(l, before, after, db.now())
	return l.put, err
}

// lockKeys takes the transaction's advisory locks of keys (in the space
// that prefix names), in one order for every transaction (no deadlock
// between two of them): the read-modify-writes of a key, on any node,
// apply one after the other.
func lockKeys(ctx context.Context, tx dbtx, prefix string, keys []string) error {
	_, err := tx.Exec(ctx, lockKeysSQL, prefix, keys)
	return err
}

const lockKeysSQL = `SELECT pg_advisory_xact_lock(k) FROM
	(SELECT DISTINCT hashtextextended($1 || a, 0) AS k FROM unnest($2::text[]) a ORDER BY 1) s`

// listTx is the suppression list within a transaction (store.ListTx),
// with the entries and counts of the addresses in play read beforehand:
// reads cost nothing, and only a change is a statement, queued in the
// batch that commits the transaction.
type listTx struct {
	put     bool // an entry was added or replaced
	batch   *pgx.Batch
	entries map[string]store.Suppression
	strikes map[string]int
}

// loadList reads the entries and counts of addrs, in one round trip,
// after taking their locks (lockKeys) when lock is set; the changes will
// be queued in batch.
func loadList(ctx context.Context, tx dbtx, batch *pgx.Batch, addrs []string, lock bool) (*listTx, error) {
	l := &listTx{batch: batch, entries: map[string]store.Suppression{}, strikes: map[string]int{}}
	read := &pgx.Batch{}
	if lock {
		read.Queue(lockKeysSQL, "outbox suppress ", addrs)
	}
	read.Queue(`SELECT `+suppressionColumns+` FROM suppressions WHERE addr = ANY($1)`, addrs).Query(func(rows pgx.Rows) error {
		found, err := pgx.CollectRows(rows, scanSuppression)
		for _, s := range found {
			l.entries[s.Addr] = s
		}
		return err
	})
	read.Queue(`SELECT addr, n FROM suppress_strikes WHERE addr = ANY($1)`, addrs).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var a string
			var n int
			if err := rows.Scan(&a, &n); err != nil {
				return err
			}
			l.strikes[a] = n
		}
		return rows.Err()
	})
	return l, tx.SendBatch(ctx, read).Close()
}

func (l *listTx) empty() bool { return len(l.entries) == 0 && len(l.strikes) == 0 }

func (l *listTx) Entry(addr string) (store.Suppression, bool, error) {
	s, ok := l.entries[addr]
	return s, ok, nil
}

func (l *listTx) Put(s store.Suppression) error {
	l.entries[s.Addr] = s
	l.put = true
	sql, args := suppressionUpsert(s)
	l.batch.Queue(sql, args...)
	return nil
}

func (l *listTx) Delete(addr string) error {
	if _, ok := l.entries[addr]; !ok {
		return nil
	}
	delete(l.entries, addr)
	l.batch.Queue(`DELETE FROM suppressions WHERE addr = $1`, addr)
	return nil
}

func (l *listTx) Strikes(addr string) (int, error) { return l.strikes[addr], nil }

func (l *listTx) SetStrikes(addr string, n int) error {
	if n == l.strikes[addr] {
		return nil
	}
	if n == 0 {
		delete(l.strikes, addr)
		l.batch.Queue(`DELETE FROM suppress_strikes WHERE addr = $1`, addr)
	} else {
		l.strikes[addr] = n
		l.batch.Queue(`INSERT INTO suppress_strikes (addr, n) VALUES ($1, $2)
			ON CONFLICT (addr) DO UPDATE SET n = excluded.n`, addr, n)
	}
	return nil
}

// querier is a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func getSuppression(ctx context.Context, q querier, addr string) (store.Suppression, bool, error) {
	var s store.Suppression
	var reason int16
	var created, expires int64
	err := q.QueryRow(ctx, `SELECT `+suppressionColumns+` FROM suppressions WHERE addr = $1`, addr).
		Scan(&s.Addr, &reason, &s.Reply, &s.MsgID, &created, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, false, nil
	}
	s.Reason, s.Created, s.Expires = store.SuppressReason(reason), nanosTime(created), nanosTime(expires)
	return s, err == nil, err
}

func scanSuppression(row pgx.CollectableRow) (store.Suppression, error) {
	var s store.Suppression
	var reason int16
	var created, expires int64
	err := row.Scan(&s.Addr, &reason, &s.Reply, &s.MsgID, &created, &expires)
	s.Reason, s.Created, s.Expires = store.SuppressReason(reason), nanosTime(created), nanosTime(expires)
	return s, err
}

func putSuppression(ctx context.Context, tx pgx.Tx, s store.Suppression) error {
	sql, args := suppressionUpsert(s)
	_, err := tx.Exec(ctx, sql, args...)
	return err
}

// suppressionUpsert is the statement storing s, replacing an entry for
// its address, and its arguments.
func suppressionUpsert(s store.Suppression) (string, []any) {
	return `INSERT INTO suppressions (` + suppressionColumns + `) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (addr) DO UPDATE SET reason = excluded.reason, reply = excluded.reply, msg_id = excluded.msg_id,
			created_ns = excluded.created_ns, expires_ns = excluded.expires_ns`,
		[]any{s.Addr, int16(s.Reason), s.Reply, s.MsgID, timeNanos(s.Created), timeNanos(s.Expires)}
}

// timeNanos and nanosTime store a time as the bbolt records do: the zero
// time as 0, any other as its unix nanoseconds.
func timeNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func nanosTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
