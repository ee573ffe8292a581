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
	var c change
	c.count(m, 1)
	s.apply(&c)
	if m.Pending() && (s.OldestPendingID == "" || m.Received.Before(s.OldestPending)) {
		s.OldestPending, s.OldestPendingID = m.Received, m.ID
	}
}

// change is what one write changes in the counts, signed. It is made in
// the write's transaction and applied to the tally when that commits.
type change struct {
	messages, pending, bounces, quarantined int
	rcpts                                   [StateHeld + 1]int
	domains                                 []domainChange // one per recipient not yet final
}

type domainChange struct {
	domain string
	n      DomainCount
}

// count adds m's counts to c, times sign (1, or -1 to take them away);
// nil counts nothing.
func (c *change) count(m *Message, sign int) {
	if m == nil {
		return
	}
	c.messages += sign
	if m.Pending() {
		c.pending += sign
	}
	for i := range m.Recipients {
		r := &m.Recipients[i]
		if int(r.State) < len(c.rcpts) {
			c.rcpts[r.State] += sign
		}
		var n DomainCount
		switch r.State {
		case StateQueued:
			n.Queued = sign
		case StateDeferred:
			n.Deferred = sign
		case StateHeld:
			n.Held = sign
		default:
			continue // final
		}
		c.domains = append(c.domains, domainChange{Domain(r.Addr), n})
	}
}

// apply adds c to s, dropping the counts that fall to zero.
func (s *Stats) apply(c *change) {
	if s.Recipients == nil {
		s.Recipients, s.Domains = map[State]int{}, map[string]DomainCount{}
	}
	s.Messages += c.messages
	s.Pending += c.pending
	s.Bounces += c.bounces
	s.Quarantined += c.quarantined
	for st, n := range c.rcpts {
		if n == 0 {
			continue
		}
		if s.Recipients[State(st)] += n; s.Recipients[State(st)] == 0 {
			delete(s.Recipients, State(st))
		}
	}
	for _, d := range c.domains {
		dc := s.Domains[d.domain]
		dc.Queued += d.n.Queued
		dc.Deferred += d.n.Deferred
		dc.Held += d.n.Held
		if dc == (DomainCount{}) {
			delete(s.Domains, d.domain)
		} else {
			s.Domains[d.domain] = dc
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
	c := &change{}
	c.count(before, -1)
	c.count(after, 1)
	db.tallyOnCommit(tx, c)
	return nil
}

// tallyOnCommit adds c to the tally once tx commits.
func (db *DB) tallyOnCommit(tx *bolt.Tx, c *change) {
	tx.OnCommit(func() {
		db.tally.mu.Lock()
		db.tally.s.apply(c)
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
				var d change
				d.count(m, 1)
				c.apply(&d)
			}
			return nil
		})
	})
	db.tally.mu.Lock()
	db.tally.s = c
	db.tally.mu.Unlock()
	return err
}
