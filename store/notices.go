package store

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The notices index lists the messages whose DSNPending flag is set, so the
// queue finds the bounce notices a crash left unsent at start-up without
// reading the whole spool (a million records would be read, and their pages
// pulled into memory, at every start).

// markNotice keeps id's notices entry in step with after.DSNPending;
// before is nil for a new message.
func markNotice(tx *bolt.Tx, id string, before, after *Message) error {
	if before != nil && before.DSNPending == after.DSNPending {
		return nil
	}
	b := bucket(tx, bucketNotices)
	if after.DSNPending {
		return b.Put([]byte(id), nil)
	}
	if before == nil {
		return nil
	}
	return b.Delete([]byte(id))
}

// PendingNotices returns the IDs of the messages whose DSNPending flag is
// set, in ID order.
func (db *DB) PendingNotices(ctx context.Context) ([]string, error) {
	var ids []string
	err := db.view(ctx, func(tx *bolt.Tx) error {
		return bucket(tx, bucketNotices).ForEach(func(k, _ []byte) error {
			ids = append(ids, string(k))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: pending notices: %w", err)
	}
	return ids, nil
}
