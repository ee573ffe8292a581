package store

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// The finished index lists the messages whose recipients are all final, by
// reception time, so Prune reads only what it removes instead of decoding
// the whole spool every hour.

// markFinished keeps id's finished entry in step with after.Done(); before
// is nil for a new message.
func markFinished(tx *bolt.Tx, id string, before, after *Message) error {
	was := before != nil && before.Done()
	is := after.Done()
	if was == is {
		return nil
	}
	b := bucket(tx, bucketFinished)
	if is {
		return b.Put(dueKey(after.Received, id), nil)
	}
	return b.Delete(dueKey(before.Received, id))
}

// finishedBefore returns the IDs of finished messages received before the
// time whose key prefix is end, oldest first.
func finishedBefore(tx *bolt.Tx, end []byte) []string {
	var ids []string
	c := bucket(tx, bucketFinished).Cursor()
	for k, _ := c.First(); k != nil && bytes.Compare(k[:min(8, len(k))], end) < 0; k, _ = c.Next() {
		if len(k) > 8 {
			ids = append(ids, string(k[8:]))
		}
	}
	return ids
}

// dropCorruptIndexes removes every index entry of a record that no longer
// decodes (so its keys cannot be computed).
func dropCorruptIndexes(tx *bolt.Tx, id string) error {
	for _, index := range append(dueBuckets[:], bucketFinished, bucketArrival) {
		if err := dropByScan(tx, index, id); err != nil {
			return err
		}
	}
	return nil
}
