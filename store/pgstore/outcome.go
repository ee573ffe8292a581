package pgstore

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/outbox-mta/outbox/store"
)

// The outcome of a claimed delivery in one round trip. Update reads the
// record under the row's lock, then writes: two round trips. For the
// outcome of a delivery this node claimed, the claim already read the
// record (prefetch.go), and while the lease holds no other node's
// delivery writes it; so updateClaimed applies fn to that record and
// commits the write, its bounce rows and events in the next group
// (group.go: one round trip, one COMMIT shared with concurrent Enqueues
// and outcomes), the write conditioned on the row still carrying both the lease's token
// and the record the claim read (any change since, an admin's on any
// node, fails it). A row that fails the condition aborts the batch (a
// division by zero: the pipeline skips the rest, COMMIT included; its
// group is committed again one entry at a time, so it fails alone) and
// Update starts over on the locked path, calling fn again on the record
// it finds (fn may run more than once, as store.DB's may).
//
// The suppression list is taken as the claim saw it: only when the claim
// saw no entry and no strike count (and this node added none since), and
// fn lists nothing (Message.Suppress), does an outcome take this path;
// with an empty list a delivery changes nothing in it, which is what the
// locked path does too (applyListings), and a listing that another node
// commits meanwhile is ordered after this outcome.

// claimBase is what updateClaimed needs of id's claim.
type claimBase struct {
	token int64
	raw   []byte
}

// base returns id's claim's token and record, when the claim saw the
// suppression list quiet and nothing was added to it here since.
func (l *leases) base(id string) (claimBase, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.ids[id]
	if !ok || c.token == lostToken || c.pre == nil || c.pre.raw == nil || !c.quiet || c.quietGen != l.list.gen {
		return claimBase{}, false
	}
	return claimBase{token: c.token, raw: c.pre.raw}, true
}

// fencedMiss is the SQLSTATE of the division by zero that aborts a
// fenced write whose row changed (division_by_zero).
const fencedMiss = "22012"

// updateClaimed commits fn's change to id in one round trip (see above).
// done is false when the path does not apply or the row changed: Update
// then takes the locked path. It reports whether the message is due now.
func (db *DB) updateClaimed(ctx context.Context, id string, fn func(m *store.Message) error) (dueNow, done bool, err error) {
	cb, ok := db.leases.base(id)
	if !ok {
		return false, false, nil
	}
	before, err := store.DecodeMessage(cb.raw)
	if err != nil {
		return false, false, nil // the locked path quarantines it
	}
	m, _ := store.DecodeMessage(cb.raw)
	before.ID, m.ID = id, id
	if err := callUpdateFn(fn, m); err != nil {
		return false, true, &requestError{err}
	}
	if len(m.Suppress) > 0 {
		return false, false, nil // a listing: the locked path reads the list
	}
	m.ID = id
	for i := range m.Recipients {
		if m.Recipients[i].State == 0 {
			m.Recipients[i].State = store.StateQueued
		}
	}
	evs, err := db.eventsArgs(before, m)
	if err != nil {
		return false, true, err
	}
	e := &groupEntry{ctx: context.WithoutCancel(ctx), stmts: &pgx.Batch{}, done: make(chan error, 1)}
	queueFencedRewrite(e.stmts, m, cb, evs)
	db.queueBounces(e.stmts, before, m)
	if err := db.joinGroup(ctx, e); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == fencedMiss {
			return false, false, nil
		}
		return false, true, classify(err)
	}
	t, due := m.NextAttempt()
	return due && !t.After(db.now()), true, nil
}

// queueFencedRewrite queues the write of m that releases the lease, with
// the insert of its events (evs: eventsArgs) as a CTE, and fails with
// division_by_zero unless the row still carries cb's token and record.
func queueFencedRewrite(b *pgx.Batch, m *store.Message, cb claimBase, evs []any) {
	c := derive(m)
	events := ""
	if evs != nil {
		events = `, e AS (` + eventsSQL(16) + `)`
	}
	args := []any{m.ID, store.EncodeMessage(m), c.due, c.done, c.pending, m.DSNPending,
		c.n[store.StateQueued], c.n[store.StateDeferred], c.n[store.StateDelivered], c.n[store.StateBounced], c.n[store.StateHeld],
		c.domains, int16(m.Priority), cb.token, cb.raw}
	b.Queue(`WITH u AS (UPDATE messages SET record = $2, due_ns = $3, done = $4, pending = $5, dsn_pending = $6,
		queued = $7, deferred = $8, delivered = $9, bounced = $10, held = $11, domains = $12, lane = $13,
		lease_owner = '', lease_until_ns = 0
		WHERE id = $1 AND lease_token = $14 AND record = $15 RETURNING 1)`+events+`
		SELECT 1 / count(*) FROM u`, append(args, evs...)...)
}
