package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"time"
	"unsafe"

	bolt "go.etcd.io/bbolt"
)

// The due index.
//
// The due index holds one key per pending message: the 8-byte big-endian
// unix nanoseconds of Message.NextAttempt() followed by the ID, with an empty
// value, in the bucket of the message's lane (lane.go): "due.high", "due"
// (normal) and "due.bulk". The lane is thus the first part of each key's
// path, so the scheduler seeks one lane at a time (DueLane) and thousands
// of due bulk messages never stand in front of a high one; a spool written
// before lanes has all its entries in "due", the normal lane, unchanged.
// bbolt keeps keys sorted, so the earliest due message of a lane is its
// first key: Due, DueLane and NextDue are cursor seeks whose cost does not
// grow with the queue. Held and finished messages have no entry. Enqueue, Update, Delete,
// Prune and quarantine keep the index in step with the records in the same
// transaction, so it can never point at a record that is not there (and a
// crash cannot split them).

// dueKey is the index key for a message next due at t; times before the
// epoch (and the zero time, "as soon as possible") sort first as 0.
func dueKey(t time.Time, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	var n int64
	if !t.IsZero() {
		n = max(t.UnixNano(), 0)
	}
	binary.BigEndian.PutUint64(k, uint64(n))
	return append(k, id...)
}

func dueTime(k []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(k[:8])))
}

// moveDue replaces before's due entry by after's, in their lanes' indexes.
func moveDue(tx *bolt.Tx, id string, before, after *Message) error {
	tb, okb := before.NextAttempt()
	ta, oka := after.NextAttempt()
	var kb, ka []byte
	if okb {
		kb = dueKey(tb, id)
	}
	if oka {
		ka = dueKey(ta, id)
	}
	if bytes.Equal(kb, ka) && before.Priority == after.Priority {
		return nil
	}
	if kb != nil {
		if err := bucket(tx, dueBucket(before.Priority)).Delete(kb); err != nil {
			return err
		}
	}
	if ka != nil {
		return bucket(tx, dueBucket(after.Priority)).Put(ka, nil)
	}
	return nil
}

// dropByScan removes id's entries from a time-keyed index (due, finished)
// when its record cannot be decoded to find the key. It scans the index,
// which is acceptable only because it runs on the rare quarantine and
// delete-of-corrupt paths.
func dropByScan(tx *bolt.Tx, index, id string) error {
	var keys [][]byte
	c := bucket(tx, index).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if len(k) > 8 && string(k[8:]) == id {
			keys = append(keys, bytes.Clone(k))
		}
	}
	b := bucket(tx, index)
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Due returns up to limit IDs of messages whose next attempt is at or before
// now, earliest first whatever their lane, skipping those for which skip
// returns true (skip may be nil; it runs inside a read transaction and must
// not call the DB's write methods, nor panic: a panic there is taken for
// damage, damage.go; nor keep its id past the call: see nextDue). limit <= 0
// means no limit.
func (db *DB) Due(ctx context.Context, now time.Time, limit int, skip func(id string) bool) ([]string, error) {
	var ids []string
	end := dueKey(now, "")
	err := db.view(ctx, func(tx *bolt.Tx) error {
		// A merge of the lanes' indexes, each a cursor in time order.
		var cs [len(dueBuckets)]*bolt.Cursor
		var ks [len(dueBuckets)][]byte
		for i, name := range dueBuckets {
			cs[i] = bucket(tx, name).Cursor()
			ks[i] = nextDue(cs[i], true, end, skip)
		}
		for limit <= 0 || len(ids) < limit {
			best := -1
			for i, k := range ks {
				if k != nil && (best < 0 || bytes.Compare(k, ks[best]) < 0) {
					best = i
				}
			}
			if best < 0 {
				break
			}
			ids = append(ids, string(ks[best][8:]))
			ks[best] = nextDue(cs[best], false, end, skip)
		}
		return nil
	})
	return ids, err
}

// DueLane is Due within lane p alone: the scheduler's seek, one lane at a
// time, so that a backlog in one lane never hides another's due mail. skip
// is as for Due.
func (db *DB) DueLane(ctx context.Context, p Priority, now time.Time, limit int, skip func(id string) bool) ([]string, error) {
	var ids []string
	end := dueKey(now, "")
	err := db.view(ctx, func(tx *bolt.Tx) error {
		c := bucket(tx, dueBucket(p)).Cursor()
		for k := nextDue(c, true, end, skip); k != nil; k = nextDue(c, false, end, skip) {
			ids = append(ids, string(k[8:]))
			if limit > 0 && len(ids) >= limit {
				break
			}
		}
		return nil
	})
	return ids, err
}

// nextDue moves c to its first (first) or next entry that is due by end
// and not skipped, and returns its key; nil past the due entries.
func nextDue(c *bolt.Cursor, first bool, end []byte, skip func(id string) bool) []byte {
	var k []byte
	if first {
		k, _ = c.First()
	} else {
		k, _ = c.Next()
	}
	for ; k != nil && bytes.Compare(k[:min(8, len(k))], end) <= 0; k, _ = c.Next() {
		if len(k) <= 8 {
			continue // not written by this package; ignore
		}
		// The id skip sees is the key's bytes in the mapped file, valid for
		// the transaction: a copy per entry looked past would be the
		// dispatcher's main allocation, as every query walks the messages
		// in flight at the head of the index.
		if skip != nil && skip(unsafe.String(&k[8], len(k)-8)) {
			continue
		}
		return k
	}
	return nil
}

// NextDue returns the earliest next-attempt time in the queue, whatever
// its lane, false when nothing is pending. A message due "as soon as
// possible" reports the epoch.
func (db *DB) NextDue(ctx context.Context) (time.Time, bool, error) {
	var t time.Time
	var ok bool
	err := db.view(ctx, func(tx *bolt.Tx) error {
		for _, name := range dueBuckets {
			if k, _ := bucket(tx, name).Cursor().First(); len(k) > 8 && (!ok || dueTime(k).Before(t)) {
				t, ok = dueTime(k), true
			}
		}
		return nil
	})
	return t, ok, err
}
