package store

import (
	"context"
	"maps"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Stats summarises the spool. It is the one count of the queue: the
// metrics, the maintenance log line and `outbox queue stats` all read it.
type Stats struct {
	Messages int // message records, finished ones included
	// Pending counts the messages awaiting delivery: with a recipient
	// queued or deferred (Message.Pending). A message whose only
	// unfinished recipients are held waits for an operator and is not
	// counted; its recipients are, in Recipients and Domains.
	Pending    int
	Recipients map[State]int // recipients by state
	// Domains counts the recipients not yet final (queued, deferred,
	// held) by destination domain (Domain).
	Domains map[string]DomainCount
	// OldestPending is the Received of the oldest pending message and
	// OldestPendingID its ID; zero and "" when none.
	OldestPending   time.Time
	OldestPendingID string
	Bounces         int   // bounce log rows
	Quarantined     int   // quarantined records (not in Messages)
	FileSize        int64 // size of spool.db in bytes (it never shrinks; see doc.go)
	FreeBytes       int64 // bytes of free pages in spool.db, reused before the file grows
}

// DomainCount is one destination domain's recipients not yet final.
type DomainCount struct {
	Queued, Deferred, Held int
}

// Stats returns the counts without reading the records: they are kept in
// memory, changed by each write in the commit that makes the change
// (tally), and recounted from the records once at Open. The oldest
// pending message is the first key of the arrival index.
func (db *DB) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	err := db.view(ctx, func(tx *bolt.Tx) error {
		s.FileSize = tx.Size()
		// Free pages are reused by later writes but never returned to
		// the file system; a large share means compaction would pay.
		bs := tx.DB().Stats()
		s.FreeBytes = int64(bs.FreePageN+bs.PendingPageN) * int64(tx.DB().Info().PageSize)
		s.OldestPending, s.OldestPendingID, _ = oldestPending(tx)
		// A commit's change reaches the tally in its OnCommit, just
		// after readers can see it: the counts may trail the index by
		// that one commit, never more.
		db.tally.snapshot(&s)
		return nil
	})
	return s, err
}

// tally is the in-memory count behind Stats.
type tally struct {
	mu sync.Mutex
	s  Stats // the counts only: no oldest, no file sizes
}

// Add counts m in s as Stats counts it: a message, pending or not, its
// recipients by state and, those not yet final, by Domain; and the oldest
// pending message. Fakes of the store use it to count as Stats does (the
// store itself counts each write's change, and the oldest with an index).
func (s *Stats) Add(m *Message) {
	s.count(m, 1)
	if m.Pending() && (s.OldestPendingID == "" || m.Received.Before(s.OldestPending)) {
		s.OldestPending, s.OldestPendingID = m.Received, m.ID
	}
}

// count adds m's counts to s, times sign (1, or -1 to take them away);
// nil counts nothing.
func (s *Stats) count(m *Message, sign int) {
	if m == nil {
		return
	}
	if s.Recipients == nil {
		s.Recipients, s.Domains = map[State]int{}, map[string]DomainCount{}
	}
	s.Messages += sign
	if m.Pending() {
		s.Pending += sign
	}
	for i := range m.Recipients {
		r := &m.Recipients[i]
		s.Recipients[r.State] += sign
		if r.State.Final() {
			continue
		}
		d := Domain(r.Addr)
		dc := s.Domains[d]
		switch r.State {
		case StateQueued:
			dc.Queued += sign
		case StateDeferred:
			dc.Deferred += sign
		case StateHeld:
			dc.Held += sign
		}
		s.Domains[d] = dc
	}
}

// merge adds the counts of d (a change, signed) to s, dropping those that
// fall to zero.
func (s *Stats) merge(d *Stats) {
	if s.Recipients == nil {
		s.Recipients, s.Domains = map[State]int{}, map[string]DomainCount{}
	}
	s.Messages += d.Messages
	s.Pending += d.Pending
	s.Bounces += d.Bounces
	s.Quarantined += d.Quarantined
	for st, n := range d.Recipients {
		if s.Recipients[st] += n; s.Recipients[st] == 0 {
			delete(s.Recipients, st)
		}
	}
	for dom, n := range d.Domains {
		dc := s.Domains[dom]
		dc.Queued += n.Queued
		dc.Deferred += n.Deferred
		dc.Held += n.Held
		if dc == (DomainCount{}) {
			delete(s.Domains, dom)
		} else {
			s.Domains[dom] = dc
		}
	}
}

// change registers, for when tx commits, the change from before to after
// (nil for a new or removed message) and keeps the arrival index in step.
// A rolled-back transaction (a batch rerun without a failed op, a failed
// commit) runs no OnCommit, so only committed changes are counted.
func (db *DB) change(tx *bolt.Tx, id string, before, after *Message) error {
	if err := markArrival(tx, id, before, after); err != nil {
		return err
	}
	var d Stats
	d.count(before, -1)
	d.count(after, 1)
	db.tallyOnCommit(tx, &d)
	return nil
}

// tallyOnCommit adds d to the tally once tx commits.
func (db *DB) tallyOnCommit(tx *bolt.Tx, d *Stats) {
	tx.OnCommit(func() {
		db.tally.mu.Lock()
		db.tally.s.merge(d)
		db.tally.mu.Unlock()
	})
}

func (t *tally) snapshot(s *Stats) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s.Messages, s.Pending = t.s.Messages, t.s.Pending
	s.Bounces, s.Quarantined = t.s.Bounces, t.s.Quarantined
	s.Recipients = maps.Clone(t.s.Recipients)
	s.Domains = maps.Clone(t.s.Domains)
}

// recount counts the spool from its records, once at Open: the only full
// read behind Stats. A record that does not decode is not counted; it is
// quarantined where it is next met, which counts it as quarantined then.
func (db *DB) recount() error {
	c := Stats{Recipients: map[State]int{}, Domains: map[string]DomainCount{}}
	err := db.view(context.Background(), func(tx *bolt.Tx) error {
		c.Quarantined = bucket(tx, bucketQuarantine).Stats().KeyN
		c.Bounces = bucket(tx, bucketBounces).Stats().KeyN
		return bucket(tx, bucketMsgs).ForEach(func(_, v []byte) error {
			if m, err := DecodeMessage(v); err == nil {
				c.count(m, 1)
			}
			return nil
		})
	})
	db.tally.mu.Lock()
	db.tally.s = c
	db.tally.mu.Unlock()
	return err
}
