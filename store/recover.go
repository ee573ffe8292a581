package store

import (
	"context"
	"errors"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
)

// Recovery at Open.
//
// bbolt itself needs no recovery: a commit is atomic (the meta page is
// written last, and a torn meta page is detected by its checksum, falling
// back to the previous one). What the store adds:
//
//   - Orphan sweep: a file body is written and fsynced before its record's
//     commit, so a crash (or a failed or abandoned Enqueue) can leave a file
//     in dir/bodies with no record. Those are removed. The reverse — a record
//     whose file is missing — cannot happen through this package.
//   - Nothing "in flight" is persisted: a delivery attempt is recorded only
//     when its outcome is committed by Update. After a crash, a message whose
//     attempt was interrupted still has its old due entry, so it is simply
//     due again (at-least-once; see doc.go).
//   - A spool written before the arrival index existed gets it
//     (buildArrival), once.
//   - The counts behind Stats are taken from the records (recount,
//     stats.go).
//   - The ID generator is seeded from the newest ID on disk so IDs keep
//     increasing even if the clock stepped backwards.
func (db *DB) recover() error {
	err := db.guard(func() error {
		return db.bolt.Update(func(tx *bolt.Tx) error {
			hadArrival := bucket(tx, bucketArrival) != nil
			for _, name := range []string{bucketMsgs, bucketBodies, bucketDue, bucketBounces, bucketQuarantine, bucketPrefixes, bucketNotices, bucketFinished, bucketArrival, bucketIdempotency,
				bucketDueHigh, bucketDueBulk, bucketSuppressions, bucketStrikes} {
				if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
					return err
				}
			}
			if !hadArrival {
				if err := buildArrival(tx); err != nil {
					return err
				}
			}
			for _, name := range []string{bucketMsgs, bucketQuarantine} {
				if k, _ := bucket(tx, name).Cursor().Last(); k != nil {
					db.ids.seed(string(k))
				}
			}
			return nil
		})
	})
	if errors.Is(err, ErrDamaged) {
		return err
	}
	if err != nil {
		return fmt.Errorf("store: initialise %s: %w", db.dir, noSpace(err))
	}
	entries, err := os.ReadDir(db.bodyDir)
	if err != nil {
		return fmt.Errorf("store: read body directory: %w", err)
	}
	var orphans []string
	var bodyFiles int
	err = db.view(context.Background(), func(tx *bolt.Tx) error {
		m, q, b := bucket(tx, bucketMsgs), bucket(tx, bucketQuarantine), bucket(tx, bucketBodies)
		for _, e := range entries {
			key := []byte(e.Name())
			if (m.Get(key) != nil || q.Get(key) != nil) && b.Get(key) == nil && e.Type().IsRegular() {
				bodyFiles++
				continue
			}
			orphans = append(orphans, e.Name())
		}
		// No Bucket.Stats of the spool here: it walks every page, bodies
		// included, which on a large spool reads the whole file into
		// memory at every start (1.5 GiB of RSS for a million queued
		// messages). recount reads the records only.
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: recover: %w", err)
	}
	removed := 0
	var removedBytes int64
	for _, name := range orphans {
		path := db.bodyPath(name)
		fi, err := os.Lstat(path)
		if err != nil {
			continue
		}
		if err := os.RemoveAll(path); err != nil {
			db.log.Warn("cannot remove orphan body", "file", path, "err", err)
			continue
		}
		removed++
		removedBytes += fi.Size()
	}
	if removed > 0 {
		if err := syncDir(db.bodyDir); err != nil {
			db.log.Warn("sync body directory", "err", err)
		}
	}
	db.log.Info("spool opened", "dir", db.dir,
		"body_files", bodyFiles, "orphans_removed", removed, "orphan_bytes", removedBytes)
	return nil
}

// buildArrival fills the arrival index of a spool that has none from its
// records; one that does not decode is left to be quarantined where it is
// next met.
func buildArrival(tx *bolt.Tx) error {
	b := bucket(tx, bucketArrival)
	return bucket(tx, bucketMsgs).ForEach(func(k, v []byte) error {
		m, err := DecodeMessage(v)
		if err != nil || !m.Pending() {
			return nil
		}
		return b.Put(dueKey(m.Received, string(k)), nil)
	})
}
