package pgstore

import (
	"context"
	"encoding/json"
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
// never misses an event numbered below N later. The committing call runs
// the sequencer before it returns (one run covers every commit made
// before it started, so a burst shares one); rows a node left unnumbered
// when it died are numbered by the next run of any node (Events runs one).

const (
	eventsChannel = "outbox_events"
	// sequencerLock is the advisory lock key of the sequencer.
	sequencerLock = 0x6f7574626f78 // "outbox"
	sequencerPage = 10000
	sequenceWait  = 5 * time.Second
)

// sequencer coalesces the runs of the event sequencer of one DB.
type sequencer struct {
	mu      sync.Mutex
	tickets atomic.Uint64 // taken by each caller after its commit
	covered uint64        // every ticket up to it is numbered
}

// insertEvents inserts the unnumbered events of the change from before to
// after in tx.
func (db *DB) insertEvents(ctx context.Context, tx pgx.Tx, before, after *store.Message) (bool, error) {
	evs := store.DeriveEvents(before, after, db.now())
	if len(evs) == 0 {
		return false, nil
	}
	times := make([]int64, len(evs))
	users := make([]string, len(evs))
	blobs := make([][]byte, len(evs))
	for i := range evs {
		js, err := json.Marshal(&evs[i])
		if err != nil {
			return false, err
		}
		times[i], users[i], blobs[i] = nanos(evs[i].Time), evs[i].User, js
	}
	_, err := tx.Exec(ctx, `INSERT INTO events (time_ns, usr, event)
		SELECT t, u, e FROM unnest($1::bigint[], $2::text[], $3::bytea[]) WITH ORDINALITY AS x(t, u, e, n) ORDER BY n`,
		times, users, blobs)
	return true, err
}

// numberEvents runs the sequencer for the commits made before the call,
// unless a run that started after the call covered them. A failure is
// logged: the rows stay unnumbered until a later run.
func (db *DB) numberEvents(ctx context.Context) {
	s := &db.seq
	ticket := s.tickets.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.covered >= ticket {
		return
	}
	upTo := s.tickets.Load()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sequenceWait)
	defer cancel()
	if err := db.sequence(ctx); err != nil {
		db.log.Warn("numbering events", "err", err)
		return
	}
	s.covered = upTo
}

// sequence numbers every committed unnumbered event, in pages.
func (db *DB) sequence(ctx context.Context) error {
	for {
		var last int64
		var n int
		err := db.tx(ctx, func(tx pgx.Tx) error {
			var err error
			last, n, err = sequencePage(ctx, tx)
			return err
		})
		if err != nil {
			return err
		}
		if n > 0 {
			db.ev.Committed(uint64(last))
		}
		if n < sequencerPage {
			return nil
		}
	}
}

// sequencePage numbers up to sequencerPage events in tx and NOTIFYs the
// last number; it returns it and how many it numbered.
func sequencePage(ctx context.Context, tx pgx.Tx) (int64, int, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(sequencerLock)); err != nil {
		return 0, 0, err
	}
	// A statement of its own, after the lock: READ COMMITTED gives it a
	// snapshot with every row committed before the lock was granted.
	rows, err := tx.Query(ctx, `SELECT id FROM events WHERE seq IS NULL ORDER BY id LIMIT $1`, sequencerPage)
	if err != nil {
		return 0, 0, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil || len(ids) == 0 {
		return 0, 0, err
	}
	// The range [first, last] is this run's alone: only sequencers, one
	// at a time, draw from event_seq.
	var last int64
	if err := tx.QueryRow(ctx, `SELECT setval('event_seq', nextval('event_seq') + $1 - 1)`, len(ids)).Scan(&last); err != nil {
		return 0, 0, err
	}
	first := last - int64(len(ids)) + 1
	if _, err := tx.Exec(ctx, `UPDATE events SET seq = $1 + u.n - 1
		FROM unnest($2::bigint[]) WITH ORDINALITY AS u(id, n) WHERE events.id = u.id`, first, ids); err != nil {
		return 0, 0, err
	}
	_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, eventsChannel, strconv.FormatInt(last, 10))
	return last, len(ids), err
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
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-db.quit
		cancel()
	}()
	db.listenConn(ctx, eventsChannel, true, func(payload string) {
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
