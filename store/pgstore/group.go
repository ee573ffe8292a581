package pgstore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outbox-mta/outbox/store"
)

// Group commit. Concurrent Enqueues (and the outcomes of claimed
// deliveries, outcome.go) share transactions, as bbolt's Batch
// shares its commits: each Enqueue joins the pending group and waits; up
// to groupLeaders committers at a time each take what is pending and
// commit it in one pipelined batch (BEGIN, every message's statements,
// COMMIT: one round trip, one COMMIT and WAL flush for the group), then
// answer each waiting Enqueue. Under load a group grows to what arrived
// during the previous commit; alone, an Enqueue is a group of one and
// waits for nobody. Each Enqueue still returns only after the COMMIT that
// holds its message returned.
//
// A group that fails for a reason of its own (a statement refused: one
// message's fault) is committed again one message at a time, so that one
// bad message fails alone. One that fails for the database's (store.
// ErrCommit: the connection lost, the server away) fails every member:
// retrying would only wait for it again, and a COMMIT whose answer was
// lost may have committed the whole group (each client is answered 451;
// a retry may duplicate, nothing is lost).

const (
	// groupMax bounds a group's messages, and groupBytes its bodies (a
	// large body goes alone, or nearly).
	groupMax   = 64
	groupBytes = 4 << 20
	// groupWait bounds one group's commit: a database that stops
	// answering fails its members' Enqueues rather than holding them.
	groupWait = time.Minute
)

// grouper gathers the pending Enqueues of one DB.
type grouper struct {
	mu      sync.Mutex
	pending []*groupEntry
	leaders int          // committers running
	max     int          // at most this many committers at once
	commits atomic.Int64 // groups committed (BenchmarkEnqueue reports them)
}

// groupEntry is one Enqueue waiting in a group.
type groupEntry struct {
	ctx   context.Context // its Enqueue's, without its cancellation: for its values
	stmts *pgx.Batch      // its message's statements, made by its Enqueue
	size  int             // its body's bytes
	taken bool            // a committer took it: its outcome is coming
	done  chan error      // capacity 1
}

// insertGrouped commits m with its body data in the next group and
// returns that group's outcome for it. If ctx ends first, an entry not yet
// taken is withdrawn (not stored); one taken may be stored or not.
func (db *DB) insertGrouped(ctx context.Context, m *store.Message, data []byte) error {
	select {
	case <-db.quit:
		return store.ErrClosed
	default:
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	e, err := db.newEntry(ctx, m, data)
	if err != nil {
		return err
	}
	return db.joinGroup(ctx, e)
}

// joinGroup commits e's statements in the next group and returns that
// group's outcome for them. If ctx ends first, an entry not yet taken is
// withdrawn (not committed); one taken may be committed or not.
func (db *DB) joinGroup(ctx context.Context, e *groupEntry) error {
	select {
	case <-db.quit:
		return store.ErrClosed
	default:
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	g := &db.group
	g.mu.Lock()
	g.pending = append(g.pending, e)
	lead := g.leaders < g.max
	if lead {
		g.leaders++
	}
	g.mu.Unlock()
	if lead {
		db.leadGroup()
	}
	select {
	case err := <-e.done:
		return err
	case <-ctx.Done():
	}
	g.mu.Lock()
	if !e.taken {
		g.pending = removeEntry(g.pending, e)
	}
	g.mu.Unlock()
	return ctx.Err()
}

// newEntry makes the group entry of m and its body data.
func (db *DB) newEntry(ctx context.Context, m *store.Message, data []byte) (*groupEntry, error) {
	e := &groupEntry{ctx: context.WithoutCancel(ctx), stmts: &pgx.Batch{}, size: len(data), done: make(chan error, 1)}
	return e, db.queueMessage(e.stmts, m, data)
}

func removeEntry(list []*groupEntry, e *groupEntry) []*groupEntry {
	for i, x := range list {
		if x == e {
			return append(list[:i], list[i+1:]...)
		}
	}
	return list
}

// leadGroup commits the next group on the caller's goroutine (an Enqueue
// alone waits for no hand-over), then leaves the groups pending after it
// to commitGroups.
func (db *DB) leadGroup() {
	g := &db.group
	g.mu.Lock()
	group := g.take()
	g.mu.Unlock()
	if len(group) > 0 {
		db.commitGroup(group)
	}
	g.mu.Lock()
	if len(g.pending) == 0 {
		g.leaders--
		g.mu.Unlock()
		return
	}
	g.mu.Unlock()
	go db.commitGroups()
}

// commitGroups commits pending groups until none is left. Close need not
// wait for it: a group taken after Close fails with store.ErrClosed, and
// the pool's Close waits for a commit in flight.
func (db *DB) commitGroups() {
	g := &db.group
	for {
		g.mu.Lock()
		group := g.take()
		if len(group) == 0 {
			g.leaders--
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		db.commitGroup(group)
	}
}

// take removes the next group from pending (g.mu held).
func (g *grouper) take() []*groupEntry {
	n, size := 0, 0
	for n < len(g.pending) && n < groupMax && (n == 0 || size+g.pending[n].size <= groupBytes) {
		size += g.pending[n].size
		g.pending[n].taken = true
		n++
	}
	group := append([]*groupEntry(nil), g.pending[:n]...)
	g.pending = append(g.pending[:0], g.pending[n:]...)
	return group
}

// commitGroup commits group in one transaction and answers its members;
// see above for a failure.
func (db *DB) commitGroup(group []*groupEntry) {
	db.group.commits.Add(1)
	err := db.commitEntries(group)
	if err != nil && len(group) > 1 && !errors.Is(err, store.ErrCommit) && !errors.Is(err, store.ErrClosed) {
		for _, e := range group {
			e.done <- db.commitEntries([]*groupEntry{e})
		}
		return
	}
	for _, e := range group {
		e.done <- err
	}
}

// commitEntries commits the messages of entries in one round trip
// (pipeline.go).
func (db *DB) commitEntries(entries []*groupEntry) error {
	select {
	case <-db.quit:
		return store.ErrClosed
	default:
	}
	batch := &pgx.Batch{}
	batch.Queue("BEGIN")
	for _, e := range entries {
		// Queued anew: pgx keeps in a queued query what it learnt of the
		// statement on the connection it ran on.
		for _, q := range e.stmts.QueuedQueries {
			batch.Queue(q.SQL, q.Arguments...)
		}
	}
	ctx, cancel := context.WithTimeout(entries[0].ctx, groupWait)
	defer cancel()
	c, err := db.pool.Acquire(ctx)
	if err != nil {
		return classify(err)
	}
	defer c.Release()
	return classify(commitBatch(ctx, c, batch))
}
