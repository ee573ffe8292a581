package store

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// The arrival index lists the pending messages (Message.Pending: a
// recipient queued or deferred) by reception time, so Stats finds the
// oldest one with a cursor seek instead of reading the whole spool at
// every metrics scrape. Enqueue, Update, Delete, Prune and quarantine keep
// it in step with the records in the same transaction. A spool written
// before the index existed gets it at Open (recover.go).

// markArrival keeps id's arrival entry in step with after.Pending();
// before is nil for a new message, after nil for a removed one.
func markArrival(tx *bolt.Tx, id string, before, after *Message) error {
	was := before != nil && before.Pending()
	is := after != nil && after.Pending()
	b := bucket(tx, bucketArrival)
	switch {
	case was && is && !before.Received.Equal(after.Received):
		if err := b.Delete(dueKey(before.Received, id)); err != nil {
			return err
		}
		return b.Put(dueKey(after.Received, id), nil)
	case was == is:
		return nil
	case is:
		return b.Put(dueKey(after.Received, id), nil)
	}
	return b.Delete(dueKey(before.Received, id))
}

// oldestPending returns the reception time and ID of the first arrival
// entry, false when nothing is pending.
func oldestPending(tx *bolt.Tx) (time.Time, string, bool) {
	k, _ := bucket(tx, bucketArrival).Cursor().First()
	if len(k) <= 8 {
		return time.Time{}, "", false
	}
	return dueTime(k), string(k[8:]), true
}
