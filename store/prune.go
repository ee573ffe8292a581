package store

import (
	"context"
	"time"

	bolt "go.etcd.io/bbolt"
)

// pruneChunk bounds the deletions per commit so Prune never holds the
// writer long enough to delay submissions noticeably.
const pruneChunk = 1000

// deleteKeys deletes keys from bucket name, pruneChunk keys per commit,
// and reports how many it deleted before any error. For records nothing
// else refers to (events, idempotency records): no recheck is needed when
// one is gone already.
func (db *DB) deleteKeys(ctx context.Context, name string, keys [][]byte) (int, error) {
	n := 0
	for len(keys) > 0 {
		chunk := keys[:min(pruneChunk, len(keys))]
		keys = keys[len(chunk):]
		err := db.write(ctx, func(tx *bolt.Tx) error {
			b := bucket(tx, name)
			for _, k := range chunk {
				if err := b.Delete(k); err != nil {
					return dirty(err)
				}
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		n += len(chunk)
	}
	return n, nil
}

// Prune removes messages whose recipients are all final and that were
// received before before, with their bodies, and bounce log rows older than
// before. It reports how many of each it removed.
func (db *DB) Prune(ctx context.Context, before time.Time) (msgs, bounces int, err error) {
	if msgs, err = db.PruneMessages(ctx, before); err != nil {
		return msgs, 0, err
	}
	bounces, err = db.PruneBounces(ctx, before)
	return msgs, bounces, err
}

// PruneMessages removes messages whose recipients are all final and that
// were received before before, with their bodies, and reports how many.
// The bounce log is left alone: it has a retention of its own.
func (db *DB) PruneMessages(ctx context.Context, before time.Time) (msgs int, err error) {
	var ids []string
	err = db.view(ctx, func(tx *bolt.Tx) error {
		ids = finishedBefore(tx, dueKey(before, ""))
		return nil
	})
	if err != nil {
		return 0, err
	}
	for len(ids) > 0 {
		chunk := ids[:min(pruneChunk, len(ids))]
		ids = ids[len(chunk):]
		n := 0
		err := db.write(ctx, func(tx *bolt.Tx) error {
			n = 0
			for _, id := range chunk {
				// Recheck: an Update may have changed it since the scan.
				v := bucket(tx, bucketMsgs).Get([]byte(id))
				if v == nil {
					continue
				}
				m, err := DecodeMessage(v)
				if err != nil || !m.Done() || !m.Received.Before(before) {
					continue
				}
				if _, err := db.deleteTx(tx, id); err != nil {
					return dirty(err)
				}
				n++
			}
			return nil
		})
		if err != nil {
			return msgs, err
		}
		msgs += n
	}
	if msgs > 0 {
		db.log.Info("pruned", "messages", msgs, "before", before)
	}
	return msgs, nil
}

// PruneBounces removes bounce log rows older than before and reports how
// many.
func (db *DB) PruneBounces(ctx context.Context, before time.Time) (bounces int, err error) {
	err = db.write(ctx, func(tx *bolt.Tx) error {
		n, err := pruneBounces(tx, before)
		bounces = n
		if err == nil && n > 0 {
			db.tallyOnCommit(tx, &change{bounces: -n})
		}
		return dirty(err)
	})
	if err != nil {
		return 0, err
	}
	if bounces > 0 {
		db.log.Info("pruned", "bounces", bounces, "before", before)
	}
	return bounces, nil
}
