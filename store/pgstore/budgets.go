package pgstore

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outbox-mta/outbox/store"
)

// Budgets is the traffic shapers' ledger shared by the nodes of one
// database (queue/shaping.Ledger; migration 003): each budget's record in
// a row of shaping_budgets, each connection a node holds to it a row of
// shaping_slots with an expiry. Get one with DB.Budgets.
//
// An admission is one transaction, two round trips: BEGIN, lock the
// budget's row, read it with the database's clock and the live
// connections; then (the shaper decides in between) write the record,
// add a connection slot, COMMIT. The row lock serialises the nodes'
// admissions to one budget only, so that N nodes starting one message
// each take N consecutive rate slots and never more connections than the
// limit. These transactions run with synchronous_commit off: the shaping
// state is not mail, a crash of the database may lose its last
// milliseconds (a few slots reserved twice at most), and a WAL flush per
// admission would cost more than the admission itself.
//
// A message deferred to a rate slot has its reservation in
// shaping_reservations, read and written in the same transaction, so the
// node that claims the message when it comes due starts it in that slot
// instead of taking another (with reservations per node, half the slots
// of two nodes went unused).
//
// Measured on the 2-core development VM, 8 workers (go test -run '^$'
// -bench 'Admission|BackoffsDown' -benchtime 2000x ./store/pgstore/):
// an admission with its connection slot and the slot's release take
// 0.2-0.4 ms on budgets of their own and 0.35-0.9 ms on one budget
// (its row lock is held for a round trip: about 1,100-2,800 admissions a
// second to one budget for the whole cluster), against 0.06-0.13 ms for
// the one-statement alternative (an UPDATE ... RETURNING of the rate
// slot alone). The transaction is kept because it also takes the
// connection slot, applies the adaptive rate and suspension and honours
// the message's reservation atomically, which one statement would need
// all the shaper's policy in SQL for; and a budget's real limits (the
// gmail preset: 10 a second) are far below what its row serialises.
// Reserving blocks of slots per node would cut round trips but strand
// slots on a node that has no message for them and delay a slow-down
// reply's effect by a block. A budget with no configured limit costs
// no statement until a reply slows it, then one read (Get, 0.03-0.1 ms).
//
// A connection slot lives for the lease (Options.Lease) and is renewed
// every Lease/3 while this node holds it (as message leases are): the
// slots of a node that died stop counting within a lease. A slot whose
// Release failed is no longer renewed and expires likewise.
type Budgets struct {
	db *DB

	mu   sync.Mutex
	held map[int64]bool
}

// Budgets returns the shared traffic shaping ledger of db; its renewal of
// connection slots runs until db is closed. Call it once per node.
func (db *DB) Budgets() *Budgets {
	b := &Budgets{db: db, held: map[int64]bool{}}
	db.view()
	db.bg.Add(1)
	go b.renewLoop()
	return b
}

func (b *Budgets) closed() bool {
	select {
	case <-b.db.quit:
		return true
	default:
		return false
	}
}

// Update implements shaping.Ledger.
func (b *Budgets) Update(ctx context.Context, key, id string, fn func(rec, resv []byte, now time.Time, conns int) ([]byte, []byte, bool, error)) (int64, error) {
	if b.closed() {
		return 0, store.ErrClosed
	}
	c, err := b.db.pool.Acquire(ctx)
	if err != nil {
		return 0, classify(err)
	}
	// A connection left inside the transaction by an error is closed by
	// Release, never reused.
	defer c.Release()
	var rec, resv []byte
	var now time.Time
	var conns int64
	batch := &pgx.Batch{}
	batch.Queue(`BEGIN`)
	batch.Queue(`SET LOCAL synchronous_commit TO off`)
	batch.Queue(`INSERT INTO shaping_budgets (key, state) VALUES ($1, '') ON CONFLICT (key) DO NOTHING`, key)
	batch.Queue(`SELECT state FROM shaping_budgets WHERE key = $1 FOR UPDATE`, key).
		QueryRow(func(row pgx.Row) error { return row.Scan(&rec) })
	// The clock is read once the lock is held: a clock read while
	// waiting for it would be stale by the wait.
	batch.Queue(`SELECT clock_timestamp(),
		(SELECT count(*) FROM shaping_slots WHERE key = $1 AND expires > clock_timestamp()),
		(SELECT resv FROM shaping_reservations WHERE key = $1 AND msg_id = $2)`, key, id).
		QueryRow(func(row pgx.Row) error { return row.Scan(&now, &conns, &resv) })
	if err := c.SendBatch(ctx, batch).Close(); err != nil {
		return 0, classify(err)
	}
	out, outResv, take, err := fn(rec, resv, now, int(conns))
	if err != nil {
		_, _ = c.Exec(ctx, `ROLLBACK`)
		return 0, err
	}
	var slot int64
	batch = &pgx.Batch{}
	// A budget that gets or loses its record tells the nodes' views
	// (view.go), in this transaction: whether it has one decides whether
	// admitting to an unlimited budget reads it (Recordless).
	noted := out != nil && (len(rec) == 0) != (len(out) == 0)
	if out != nil {
		batch.Queue(`UPDATE shaping_budgets SET state = $2, updated = clock_timestamp() WHERE key = $1`, key, out)
	}
	if noted {
		batch.Queue(`SELECT pg_notify($1, $2)`, viewChannel, "b:"+key)
	}
	b.queueReservation(batch, key, id, resv, outResv, now)
	if take {
		batch.Queue(`INSERT INTO shaping_slots (key, node, expires)
			VALUES ($1, $2, clock_timestamp() + $3 * interval '1 microsecond') RETURNING id`,
			key, b.db.opts.Node, b.db.opts.Lease.Microseconds()).
			QueryRow(func(row pgx.Row) error { return row.Scan(&slot) })
	}
	batch.Queue(`COMMIT`)
	if err := c.SendBatch(ctx, batch).Close(); err != nil {
		return 0, classify(err)
	}
	if noted {
		b.db.view().note("b:" + key)
	}
	if take {
		b.mu.Lock()
		b.held[slot] = true
		b.mu.Unlock()
	}
	return slot, nil
}

// queueReservation queues the write that makes message id's reservation
// for key outResv (it was resv): none when unchanged, a DELETE for nil.
// The row's at is the sweep's: now plus a day, a bound no slot reaches.
func (b *Budgets) queueReservation(batch *pgx.Batch, key, id string, resv, outResv []byte, now time.Time) {
	switch {
	case id == "" || bytes.Equal(resv, outResv):
	case outResv == nil:
		batch.Queue(`DELETE FROM shaping_reservations WHERE key = $1 AND msg_id = $2`, key, id)
	default:
		batch.Queue(`INSERT INTO shaping_reservations (key, msg_id, at, resv) VALUES ($1, $2, $3, $4)
			ON CONFLICT (key, msg_id) DO UPDATE SET at = excluded.at, resv = excluded.resv`,
			key, id, now.Add(reservationTTL), outResv)
	}
}

// reservationTTL bounds how long a reservation whose message went away
// (deleted while it waited) stays: a rate slot is never a day away.
const reservationTTL = 24 * time.Hour

// Release implements shaping.Ledger. The slot is forgotten (no longer
// renewed) even when the DELETE fails: it then expires by itself.
func (b *Budgets) Release(ctx context.Context, slot int64) error {
	b.mu.Lock()
	delete(b.held, slot)
	b.mu.Unlock()
	if b.closed() {
		return store.ErrClosed
	}
	batch := &pgx.Batch{}
	batch.Queue(`BEGIN`)
	batch.Queue(`SET LOCAL synchronous_commit TO off`)
	batch.Queue(`DELETE FROM shaping_slots WHERE id = $1`, slot)
	batch.Queue(`COMMIT`)
	return classify(b.db.pool.SendBatch(ctx, batch).Close())
}

// Get implements shaping.Ledger.
func (b *Budgets) Get(ctx context.Context, key, id string) (rec, resv []byte, now time.Time, conns int, err error) {
	if b.closed() {
		return nil, nil, time.Time{}, 0, store.ErrClosed
	}
	var n int64
	err = b.db.pool.QueryRow(ctx, `SELECT (SELECT state FROM shaping_budgets WHERE key = $1), clock_timestamp(),
		(SELECT count(*) FROM shaping_slots WHERE key = $1 AND expires > clock_timestamp()),
		(SELECT resv FROM shaping_reservations WHERE key = $1 AND msg_id = $2)`, key, id).Scan(&rec, &now, &n, &resv)
	return rec, resv, now, int(n), classify(err)
}

// Recordless implements shaping.RecordlessLedger: true when this node's
// view of the budgets (view.go), trusted and up to date but for a
// notification's latency, knows key has no record, so Get would find
// none. A budget with no configured limit then admits without a
// statement.
func (b *Budgets) Recordless(key string) bool { return b.db.view().recordless(key) }

// List implements shaping.Ledger: every budget with a record or a live
// connection slot.
func (b *Budgets) List(ctx context.Context, fn func(now time.Time, key string, rec []byte, conns, reserved int)) error {
	if b.closed() {
		return store.ErrClosed
	}
	rows, err := b.db.pool.Query(ctx, `WITH s AS (
			SELECT key, count(*) AS n FROM shaping_slots WHERE expires > clock_timestamp() GROUP BY key),
		r AS (SELECT key, count(*) AS n FROM shaping_reservations GROUP BY key)
		SELECT coalesce(b.key, s.key), coalesce(b.state, ''), coalesce(s.n, 0),
			(SELECT coalesce(max(r.n), 0) FROM r WHERE r.key = coalesce(b.key, s.key)), clock_timestamp()
		FROM shaping_budgets b FULL JOIN s ON s.key = b.key ORDER BY 1`)
	if err != nil {
		return classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		var rec []byte
		var n, reserved int64
		var now time.Time
		if err := rows.Scan(&key, &rec, &n, &reserved, &now); err != nil {
			return classify(err)
		}
		fn(now, key, rec, int(n), int(reserved))
	}
	return classify(rows.Err())
}

// renewLoop extends this node's connection slots every Lease/3, and
// deletes the expired slots of every node, until the DB is closed.
func (b *Budgets) renewLoop() {
	defer b.db.bg.Done()
	t := time.NewTicker(b.db.opts.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-b.db.quit:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), b.db.opts.Lease/3)
			if err := b.renew(ctx); err != nil {
				b.db.log.Warn("renewing shared connection slots", "err", err)
			}
			cancel()
		}
	}
}

func (b *Budgets) renew(ctx context.Context) error {
	b.mu.Lock()
	ids := make([]int64, 0, len(b.held))
	for id := range b.held {
		ids = append(ids, id)
	}
	b.mu.Unlock()
	batch := &pgx.Batch{}
	if len(ids) > 0 {
		batch.Queue(`UPDATE shaping_slots SET expires = clock_timestamp() + $2 * interval '1 microsecond' WHERE id = ANY($1)`,
			ids, b.db.opts.Lease.Microseconds())
	}
	batch.Queue(`DELETE FROM shaping_slots WHERE expires < clock_timestamp() - interval '1 minute'`)
	batch.Queue(`DELETE FROM shaping_reservations WHERE at < clock_timestamp()`)
	return classify(b.db.pool.SendBatch(ctx, batch).Close())
}
