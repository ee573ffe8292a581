package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outbox-mta/outbox/store"
)

// The event log.
//
// Enqueue, Update and Delete insert the events of their change
// (store.DeriveEvents) in the transaction that records it, unnumbered: a
// rolled-back transaction writes neither, a committed one both. Numbers
// are handed out after the commit, by the sequencer: one transaction at a
// time across every node (an advisory lock held to its commit) numbers
// the committed unnumbered rows from the sequence event_seq, in insertion
// order, and NOTIFYs the last number on channel outbox_events. So numbers
// become visible in increasing order, and a follower that read up to N
// never misses an event numbered below N later. A commit kicks this
// node's sequencer loop and returns (numbering in the committing call
// would cost every acceptance a second transaction and WAL flush: 4x
// fewer acceptances from one writer); the loop's next run numbers every
// row committed before it, so a burst shares one. Events runs the
// sequencer itself first, so a reader sees every event committed before
// its call; rows a node left unnumbered when it died are numbered by the
// next run of any node.

const (
	eventsChannel = "outbox_events" // NOTIFYed by outbox_number_events
	sequencerPage = 10000
	sequenceWait  = 5 * time.Second
	// sequenceRetry is the pause after a failed run of the loop (the
	// database down) before it tries again.
	sequenceRetry = time.Second
	// sequenceGap is the least time between two runs of the loop.
	sequenceGap = 20 * time.Millisecond
)

// sequencer coalesces the runs of the event sequencer of one DB.
type sequencer struct {
	mu      sync.Mutex
	tickets atomic.Uint64 // taken by each caller after its commit
	covered uint64        // every ticket up to it is numbered
}

// insertEvents inserts the unnumbered events of the change from before to
// after in tx, and reports whether there were any.
func (db *DB) insertEvents(ctx context.Context, tx pgx.Tx, before, after *store.Message) (bool, error) {
	sql, args, err := db.eventsInsert(before, after)
	if err != nil || sql == "" {
		return false, err
	}
	_, err = tx.Exec(ctx, sql, args...)
	return true, err
}

// eventsInsert is the statement inserting the events of the change from
// before to after (store.DeriveEvents), unnumbered, and its arguments;
// "" when the change makes none.
func (db *DB) eventsInsert(before, after *store.Message) (string, []any, error) {
	args, err := db.eventsArgs(before, after)
	if err != nil || args == nil {
		return "", nil, err
	}
	return eventsSQL(1), args, nil
}

// eventsArgs are the arguments of eventsSQL for the events of the change
// from before to after; nil when it makes none.
func (db *DB) eventsArgs(before, after *store.Message) ([]any, error) {
	evs := store.DeriveEvents(before, after, db.now())
	if len(evs) == 0 {
		return nil, nil
	}
	times := make([]int64, len(evs))
	users := make([]string, len(evs))
	blobs := make([][]byte, len(evs))
	for i := range evs {
		js, err := json.Marshal(&evs[i])
		if err != nil {
			return nil, err
		}
		times[i], users[i], blobs[i] = nanos(evs[i].Time), evs[i].User, js
	}
	return []any{times, users, blobs}, nil
}

// eventsSQL is the statement inserting events, unnumbered, in the order
// of its three array arguments, placeholders $n to $n+2 (a statement of
// its own, or the CTE of another: one statement fewer).
func eventsSQL(n int) string {
	return fmt.Sprintf(`INSERT INTO events (time_ns, usr, event)
		SELECT t, u, e FROM unnest($%d::bigint[], $%d::text[], $%d::bytea[]) WITH ORDINALITY AS x(t, u, e, n) ORDER BY n`,
		n, n+1, n+2)
}

// kickSequencer asks the sequencer loop for a run; it never blocks.
func (db *DB) kickSequencer() {
	select {
	case db.seqReq <- struct{}{}:
	default:
	}
}

// sequencerLoop runs the sequencer when kicked, until Close; a failed run
// is tried again after sequenceRetry, so events committed before the
// database went away are numbered once it is back.
func (db *DB) sequencerLoop() {
	defer db.bg.Done()
	ctx, cancel := db.untilClose()
	defer cancel()
	for {
		select {
		case <-db.quit:
			return
		case <-db.seqReq:
		}
		for !db.numberEvents(ctx) {
			select {
			case <-db.quit:
				return
			case <-time.After(sequenceRetry):
			}
		}
		// A pause, so that the commits of a burst share the next run
		// (and its WAL flush) rather than each making one.
		select {
		case <-db.quit:
			return
		case <-time.After(sequenceGap):
		}
	}
}

// numberEvents runs the sequencer for the commits made before the call,
// unless a run that started after the call covered them, and reports
// whether they are numbered. A failure is logged: the rows stay
// unnumbered until a later run.
func (db *DB) numberEvents(ctx context.Context) bool {
	s := &db.seq
	ticket := s.tickets.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.covered >= ticket {
		return true
	}
	upTo := s.tickets.Load()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sequenceWait)
	defer cancel()
	if err := db.sequence(ctx); err != nil {
		switch {
		case errors.Is(err, store.ErrClosed):
		case errors.Is(err, store.ErrCommit):
			// The database is away: the queue and listeners report it;
			// the loop retries every sequenceRetry meanwhile.
			db.log.Debug("numbering events", "err", err)
		default:
			db.log.Warn("numbering events", "err", err)
		}
		return false
	}
	s.covered = upTo
	return true
}

// sequence numbers every committed unnumbered event, in pages (one
// statement each: outbox_number_events, migration 002, which takes the
// sequencer's lock, numbers and NOTIFYs).
func (db *DB) sequence(ctx context.Context) error {
	for {
		var last int64
		var n int
		err := db.pool.QueryRow(ctx, `SELECT last, n FROM outbox_number_events($1)`, sequencerPage).Scan(&last, &n)
		if err != nil {
			return classify(err)
		}
		if n > 0 {
			db.ev.Committed(uint64(last))
		}
		if n < sequencerPage {
			return nil
		}
	}
}

// lastEventSeq reads the newest number handed out (a number of a run
// that rolled back is a gap, never reused).
func (db *DB) lastEventSeq(ctx context.Context) (uint64, error) {
	var last int64
	var called bool
	if err := db.pool.QueryRow(ctx, `SELECT last_value, is_called FROM event_seq`).Scan(&last, &called); err != nil {
		return 0, classify(err)
	}
	if !called {
		return 0, nil
	}
	return uint64(last), nil
}

// LastEventSeq is the sequence number of the newest event this node knows
// committed (its own, and the other nodes' as their NOTIFYs arrive); 0
// when none was ever written.
func (db *DB) LastEventSeq() uint64 { return db.ev.Last() }

// EventsAfter returns a channel that is closed once an event with a
// sequence number above after is committed, on any node: at once when
// there is one already, and when the DB closes.
func (db *DB) EventsAfter(after uint64) <-chan struct{} { return db.ev.After(after) }

// Events returns up to limit events with a sequence number above after,
// oldest first (limit ≤ 0 or above store.MaxEventsPage means
// store.MaxEventsPage). A row that does not decode is logged and
// skipped: its number is a gap.
func (db *DB) Events(ctx context.Context, after uint64, limit int) ([]store.Event, error) {
	var out []store.Event
	err := db.readEvents(ctx, after, limit, func(seq int64, user string, js []byte) {
		var e store.Event
		if err := json.Unmarshal(js, &e); err != nil {
			db.log.Warn("skipping corrupt event", "seq", seq, "err", fmt.Errorf("%w: event: %w", store.ErrCorrupt, err))
			return
		}
		e.Seq, e.User = uint64(seq), user
		out = append(out, e)
	})
	return out, err
}

// readEvents calls fn with each numbered event above after, up to limit
// (Events' bounds), oldest first, once the events committed before the
// call are numbered.
func (db *DB) readEvents(ctx context.Context, after uint64, limit int, fn func(seq int64, user string, js []byte)) error {
	if limit <= 0 || limit > store.MaxEventsPage {
		limit = store.MaxEventsPage
	}
	if after >= 1<<63-1 {
		return nil // nothing is numbered above it
	}
	db.numberEvents(ctx) // rows a dead node left unnumbered
	rows, err := db.pool.Query(ctx, `SELECT seq, usr, event FROM events WHERE seq > $1 ORDER BY seq LIMIT $2`,
		int64(after), limit)
	if err != nil {
		return classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var user string
		var js []byte
		if err := rows.Scan(&seq, &user, &js); err != nil {
			return classify(err)
		}
		fn(seq, user, js)
	}
	return classify(rows.Err())
}

// PruneEvents removes the numbered events older than before and reports
// how many. Sequence numbers are not reused: a follower behind the pruned
// ones resumes at the oldest kept.
func (db *DB) PruneEvents(ctx context.Context, before time.Time) (int, error) {
	db.numberEvents(ctx) // an unnumbered row is kept: a follower has not seen it
	t, err := db.pool.Exec(ctx, `DELETE FROM events WHERE time_ns < $1 AND seq IS NOT NULL`, nanos(before))
	if err != nil {
		return 0, classify(err)
	}
	if n := t.RowsAffected(); n > 0 {
		db.log.Info("pruned", "events", n, "before", before)
	}
	return int(t.RowsAffected()), nil
}

// watchEvents feeds the other nodes' event numbers (NOTIFY) into the
// feed, until Close; after a lost connection it reads the newest number,
// for what it missed meanwhile.
func (db *DB) watchEvents() {
	defer db.bg.Done()
	ctx, cancel := db.untilClose()
	defer cancel()
	db.listenConn(ctx, eventsChannel, true, nil, func(payload string) {
		if payload == "" {
			if last, err := db.lastEventSeq(ctx); err == nil {
				db.ev.Committed(last)
			}
			return
		}
		if seq, err := strconv.ParseUint(payload, 10, 64); err == nil {
			db.ev.Committed(seq)
		}
	})
}

// untilClose is a context that ends when Close is called, for a
// background loop of the DB.
func (db *DB) untilClose() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-db.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
