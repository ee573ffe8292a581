package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/outbox-mta/outbox/store"
)

// NewBody starts a new body; its ID is the ID the message will have. It
// streams into memory, then into a file of the scratch directory past
// Options.InlineMax; Enqueue copies it into the database.
func (db *DB) NewBody() (*store.Body, error) {
	select {
	case <-db.quit:
		return nil, store.ErrClosed
	default:
	}
	return store.MakeBody(db.ids.next(db.now()), store.BodyOptions{
		Owner: db, Dir: db.scratch, InlineMax: db.opts.InlineMax, MaxSize: db.opts.MaxBodySize,
	}), nil
}

// Enqueue commits m and b in one transaction (m.ID is set to b.ID(),
// m.Size to len(m.Prefix)+b.Size(), a zero m.Received to now, and a
// recipient State of 0 to StateQueued). When it returns nil, COMMIT has
// returned with synchronous_commit on: the message is in the WAL on disk.
//
// On an error the body stays usable (retry Enqueue, or Discard it). If
// ctx ends, or the connection is lost, while COMMIT is in flight, the
// message may or may not be stored (the caller answers 451; a retry may
// duplicate it, nothing is lost).
func (db *DB) Enqueue(ctx context.Context, m *store.Message, b *store.Body) error {
	return db.enqueue(ctx, m, b, nil)
}

// enqueue is Enqueue with first run in the transaction before the message
// is stored: it may write rows of its own and decides whether the message
// is stored at all (false: nothing is written; the body stays the
// caller's).
func (db *DB) enqueue(ctx context.Context, m *store.Message, b *store.Body, first func(tx pgx.Tx) (bool, error)) error {
	switch {
	case !b.OwnedBy(db):
		return errors.New("pgstore: Enqueue with a body from another spool")
	case b.Done():
		return errors.New("pgstore: Enqueue of a body already enqueued or discarded")
	case len(m.Recipients) == 0:
		return errors.New("pgstore: Enqueue of a message without recipients")
	}
	data, err := readBody(b)
	if err != nil {
		return err
	}
	m.ID = b.ID()
	m.Size = int64(len(m.Prefix)) + b.Size()
	if m.Received.IsZero() {
		m.Received = db.now()
	}
	for i := range m.Recipients {
		if m.Recipients[i].State == 0 {
			m.Recipients[i].State = store.StateQueued
		}
	}
	stored := true
	if first == nil {
		err = db.insertGrouped(ctx, m, data)
	} else {
		err = db.tx(ctx, func(tx pgx.Tx) error {
			var err error
			if stored, err = first(tx); err != nil || !stored {
				return err
			}
			batch, err := db.messageBatch(m, data)
			if err != nil {
				return err
			}
			return tx.SendBatch(ctx, batch).Close()
		})
	}
	if (err == nil && stored) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		_ = b.Discard() // the scratch copy: the database has the body, or the outcome is unknown
	}
	if err == nil && stored {
		db.announce()
		db.kickSequencer()
	}
	return err
}

// messageBatch is the batch of statements storing m, its body and its
// events.
func (db *DB) messageBatch(m *store.Message, data []byte) (*pgx.Batch, error) {
	batch := &pgx.Batch{}
	return batch, db.queueMessage(batch, m, data)
}

// queueMessage queues the statement storing m, its body and its events:
// one statement (the body's and the events' inserts as its CTEs), each
// statement costing the server its own execution.
func (db *DB) queueMessage(batch *pgx.Batch, m *store.Message, data []byte) error {
	prefix := m.Prefix
	if prefix == nil {
		prefix = []byte{}
	}
	sql, args := messageInsert(m, "")
	evs, err := db.eventsArgs(nil, m)
	if err != nil {
		return err
	}
	n := len(args)
	with := fmt.Sprintf(`WITH b AS (INSERT INTO bodies (id, prefix, body) VALUES ($1, $%d, $%d))`, n+1, n+2)
	args = append(args, prefix, data)
	if evs != nil {
		with += `, e AS (` + eventsSQL(n+3) + `)`
		args = append(args, evs...)
	}
	batch.Queue(with+" "+sql, args...)
	return nil
}

// readBody reads back what was written to b.
func readBody(b *store.Body) ([]byte, error) {
	rc, err := b.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data := make([]byte, 0, b.Size())
	buf := bytes.NewBuffer(data)
	if _, err := io.Copy(buf, rc); err != nil {
		return nil, fmt.Errorf("pgstore: read back body %s: %w", b.ID(), err)
	}
	return buf.Bytes(), nil
}

// Get returns a message's record. A record that does not decode is
// quarantined and Get returns an error wrapping store.ErrCorrupt.
func (db *DB) Get(ctx context.Context, id string) (*store.Message, error) {
	if m := db.leases.takeMessage(id); m != nil { // prefetch.go
		return m, nil
	}
	var raw []byte
	err := db.pool.QueryRow(ctx, `SELECT record FROM messages WHERE id = $1`, id).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, db.missing(ctx, id)
	}
	if err != nil {
		return nil, classify(err)
	}
	m, err := store.DecodeMessage(raw)
	if err != nil {
		db.quarantine(ctx, id, err)
		return nil, fmt.Errorf("message %s: %w", id, err)
	}
	m.ID = id
	return m, nil
}

// missing is the error for an ID with no message: ErrCorrupt when it is
// quarantined, else ErrNotFound.
func (db *DB) missing(ctx context.Context, id string) error {
	var one int
	err := db.pool.QueryRow(ctx, `SELECT 1 FROM quarantine WHERE id = $1`, id).Scan(&one)
	switch {
	case err == nil:
		return fmt.Errorf("%w: %s is quarantined", store.ErrCorrupt, id)
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("%w: %s", store.ErrNotFound, id)
	}
	return classify(err)
}

// OpenBody returns the stored body of a message, preceded by its
// Message.Prefix. A live message without a body is quarantined and the
// error wraps store.ErrCorrupt.
func (db *DB) OpenBody(ctx context.Context, id string) (io.ReadCloser, error) {
	prefix, body, ok := db.leases.takeBody(id) // prefetch.go
	var err error
	if !ok {
		err = db.pool.QueryRow(ctx, `SELECT prefix, body FROM bodies WHERE id = $1`, id).Scan(&prefix, &body)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		if err := db.missing(ctx, id); errors.Is(err, store.ErrNotFound) {
			if _, gerr := db.Get(ctx, id); gerr == nil {
				reason := fmt.Errorf("%w: body of %s is missing", store.ErrCorrupt, id)
				db.quarantine(ctx, id, reason)
				return nil, reason
			}
			return nil, err
		} else if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: body of %s is missing", store.ErrCorrupt, id)
	}
	if err != nil {
		return nil, classify(err)
	}
	return io.NopCloser(io.MultiReader(bytes.NewReader(prefix), bytes.NewReader(body))), nil
}

// Update applies fn to the message's record and stores the result in one
// transaction, holding the row's lock: concurrent Updates of one message
// (on any node) apply one after the other. It keeps the indexes in step
// and appends the bounce log rows of recipients fn made Bounced. An error
// from fn aborts the update and is returned unchanged. A corrupt record is
// quarantined and the error wraps store.ErrCorrupt.
//
// When this node claimed the message (Due), the update is fenced: it
// commits only if the row still carries this node's lease token, else it
// fails with ErrLeaseLost; a fenced update releases the lease.
func (db *DB) Update(ctx context.Context, id string, fn func(m *store.Message) error) error {
	select {
	case <-db.quit:
		return store.ErrClosed
	default:
	}
	dueNow, done, err := db.updateClaimed(ctx, id, fn) // outcome.go
	if !done {
		dueNow, err = db.updateLocked(ctx, id, fn)
	}
	if err == nil || errors.Is(err, ErrLeaseLost) {
		db.leases.release(id)
	}
	if err == nil {
		if dueNow {
			db.announce() // a flush, a release: any node may take it
		}
		db.kickSequencer()
	}
	if errors.Is(err, store.ErrCorrupt) {
		return err
	}
	return classify(err)
}

// updateLocked is Update's transaction on a pooled connection.
func (db *DB) updateLocked(ctx context.Context, id string, fn func(m *store.Message) error) (bool, error) {
	c, err := db.pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	defer c.Release()
	dueNow, err := db.update(ctx, c, id, fn)
	if err != nil {
		abort(ctx, c)
	}
	return dueNow, err
}

// update is Update's transaction on c (pipeline.go): BEGIN and the read
// of the record under the row's lock in one round trip, then the writes
// and COMMIT in another. It reports whether the message is due now. An
// error leaves the transaction for Update to roll back.
func (db *DB) update(ctx context.Context, c *pgxpool.Conn, id string, fn func(m *store.Message) error) (dueNow bool, err error) {
	var raw []byte
	var token int64
	var entries, strikes bool
	sight := db.leases.sight()
	read := &pgx.Batch{}
	read.Queue("BEGIN")
	// entries, strikes: whether the suppression list has anything a
	// delivery could change (applyListings), and a sighting for
	// listcache.go.
	read.Queue(`SELECT record, lease_token,
		EXISTS (SELECT 1 FROM suppressions), EXISTS (SELECT 1 FROM suppress_strikes)
		FROM messages WHERE id = $1 FOR UPDATE`, id).QueryRow(func(row pgx.Row) error {
		return row.Scan(&raw, &token, &entries, &strikes)
	})
	err = sendBatch(ctx, c, read)
	if errors.Is(err, pgx.ErrNoRows) {
		abort(ctx, c)
		return false, db.missing(ctx, id)
	}
	if err != nil {
		return false, err
	}
	db.leases.observed(sight, !entries)
	listed := entries || strikes
	held, fenced := db.leases.token(id)
	if fenced && held != token {
		return false, fmt.Errorf("%w: %s (token %d, now %d)", ErrLeaseLost, id, held, token)
	}
	before, err := store.DecodeMessage(raw)
	if err != nil {
		corrupt := fmt.Errorf("message %s: %w", id, err)
		if err := db.quarantineTx(ctx, c, id, raw, err); err != nil {
			return false, err
		}
		if err := commitBatch(ctx, c, &pgx.Batch{}); err != nil {
			return false, err
		}
		return false, corrupt
	}
	before.ID = id
	m, _ := store.DecodeMessage(raw)
	m.ID = id
	if err := callUpdateFn(fn, m); err != nil {
		return false, &requestError{err}
	}
	m.ID = id
	for i := range m.Recipients {
		if m.Recipients[i].State == 0 {
			m.Recipients[i].State = store.StateQueued
		}
	}
	writes := &pgx.Batch{}
	queueRewrite(writes, m, fenced)
	db.queueBounces(writes, before, m)
	added, err := db.applyListings(ctx, c, writes, listed, before, m)
	if err != nil {
		return false, err
	}
	if sql, args, err := db.eventsInsert(before, m); err != nil {
		return false, err
	} else if sql != "" {
		writes.Queue(sql, args...)
	}
	t, due := m.NextAttempt()
	if err := commitBatch(ctx, c, writes); err != nil {
		return false, err
	}
	if added {
		db.leases.bump()
	}
	return due && !t.After(db.now()), nil
}

// insertMessage inserts m's row; suffix ends the statement (an ON
// CONFLICT clause, or "").
func insertMessage(ctx context.Context, tx pgx.Tx, m *store.Message, suffix string) (bool, error) {
	sql, args := messageInsert(m, suffix)
	t, err := tx.Exec(ctx, sql, args...)
	return err == nil && t.RowsAffected() == 1, err
}

// messageInsert is the statement inserting m's row and its arguments.
func messageInsert(m *store.Message, suffix string) (string, []any) {
	c := derive(m)
	return `INSERT INTO messages (id, record, received_ns, due_ns, done, pending, dsn_pending,
		queued, deferred, delivered, bounced, held, domains, lane)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ` + suffix, []any{
			m.ID, store.EncodeMessage(m), nanos(m.Received), c.due, c.done, c.pending, m.DSNPending,
			c.n[store.StateQueued], c.n[store.StateDeferred], c.n[store.StateDelivered], c.n[store.StateBounced],
			c.n[store.StateHeld], c.domains, int16(m.Priority)}
}

// queueRewrite queues the statement storing m's record and derived
// columns; release drops the lease.
func queueRewrite(batch *pgx.Batch, m *store.Message, release bool) {
	c := derive(m)
	lease := ""
	if release {
		lease = ", lease_owner = '', lease_until_ns = 0"
	}
	batch.Queue(`UPDATE messages SET record = $2, due_ns = $3, done = $4, pending = $5, dsn_pending = $6,
		queued = $7, deferred = $8, delivered = $9, bounced = $10, held = $11, domains = $12, lane = $13`+lease+` WHERE id = $1`,
		m.ID, store.EncodeMessage(m), c.due, c.done, c.pending, m.DSNPending,
		c.n[store.StateQueued], c.n[store.StateDeferred], c.n[store.StateDelivered], c.n[store.StateBounced], c.n[store.StateHeld], c.domains, int16(m.Priority))
}

// callUpdateFn runs an Update's fn, turning its panic into an error so
// that a caller's bug fails its own request.
func callUpdateFn(fn func(m *store.Message) error, m *store.Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("pgstore: update of %s panicked: %v", m.ID, p)
		}
	}()
	return fn(m)
}

// Delete removes a message (or a quarantined record) and its body, and
// logs a deleted event for each recipient that was not final.
func (db *DB) Delete(ctx context.Context, id string) error {
	logged := false
	err := db.tx(ctx, func(tx pgx.Tx) error {
		logged = false
		var raw []byte
		err := tx.QueryRow(ctx, `DELETE FROM messages WHERE id = $1 RETURNING record`, id).Scan(&raw)
		found := err == nil
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if found {
			if m, derr := store.DecodeMessage(raw); derr == nil {
				m.ID = id
				if logged, err = db.insertEvents(ctx, tx, m, nil); err != nil {
					return err
				}
			}
		}
		t, err := tx.Exec(ctx, `DELETE FROM quarantine WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if !found && t.RowsAffected() == 0 {
			return fmt.Errorf("%w: %s", store.ErrNotFound, id)
		}
		_, err = tx.Exec(ctx, `DELETE FROM bodies WHERE id = $1`, id)
		return err
	})
	if err == nil && logged {
		db.kickSequencer()
	}
	return err
}

// columns are the values derived from a record for the indexes and
// Stats.
type columns struct {
	due           *int64 // nil: nothing pending
	done, pending bool
	n             [store.StateHeld + 1]int // recipients by state
	// domains counts the unfinished recipients by domain, as store.Stats
	// does: [queued, deferred, held].
	domains map[string][3]int
}

func derive(m *store.Message) columns {
	var c columns
	if t, ok := m.NextAttempt(); ok {
		// As bbolt's due index: the zero time ("as soon as possible")
		// and times before the epoch sort first as 0.
		var n int64
		if !t.IsZero() {
			n = max(t.UnixNano(), 0)
		}
		c.due = &n
	}
	c.done, c.pending = m.Done(), m.Pending()
	c.domains = map[string][3]int{}
	for _, r := range m.Recipients {
		if r.State <= store.StateHeld {
			c.n[r.State]++
		}
		i := -1
		switch r.State {
		case store.StateQueued:
			i = 0
		case store.StateDeferred:
			i = 1
		case store.StateHeld:
			i = 2
		}
		if i >= 0 {
			d := c.domains[store.Domain(r.Addr)]
			d[i]++
			c.domains[store.Domain(r.Addr)] = d
		}
	}
	return c
}
