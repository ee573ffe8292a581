package store

import (
	"context"
	"encoding/binary"

	bolt "go.etcd.io/bbolt"
)

// The event log in a salvage.
//
// Sequence numbers are never reused, not even by the spool Salvage makes:
// a follower that read up to N must not meet another event numbered N.
// The new spool's events bucket starts at the old bucket's sequence (read
// from its header in the root, rawpages.go), before any message is
// copied; the old events readable are copied as they are, under their
// numbers. Each copied message is enqueued again, so its recipients get a
// new accepted event (and the event of the state they were copied in),
// numbered after the old ones: the salvage is in the log.

// noteEventSequence keeps the events bucket's sequence from its header in
// the root: 8 bytes of root page, then 8 bytes of sequence (bbolt's
// inBucket, little-endian).
func (s *salvager) noteEventSequence(name string, header []byte) {
	if name == bucketEvents && len(header) >= 16 {
		s.eventSeq = binary.LittleEndian.Uint64(header[8:16])
	}
}

// startEvents sets dst's event sequence past every old number, before
// anything is written to dst.
func (s *salvager) startEvents(ctx context.Context, dst *DB) error {
	seq := s.eventSeq
	for k := range s.buckets[bucketEvents] {
		if len(k) == 8 {
			seq = max(seq, binary.BigEndian.Uint64([]byte(k)))
		}
	}
	if seq == 0 {
		return nil
	}
	return dst.write(ctx, func(tx *bolt.Tx) error {
		if err := bucket(tx, bucketEvents).SetSequence(seq); err != nil {
			return dirty(err)
		}
		tx.OnCommit(func() { dst.ev.committed(seq) })
		return nil
	})
}

// copyEvents copies the old events readable, under their numbers.
func (s *salvager) copyEvents(ctx context.Context, dst *DB) error {
	s.rep.Events = len(s.buckets[bucketEvents])
	if s.rep.Events == 0 {
		return nil
	}
	return dst.write(ctx, func(tx *bolt.Tx) error {
		b := bucket(tx, bucketEvents)
		for k, v := range s.buckets[bucketEvents] {
			if err := b.Put([]byte(k), v); err != nil {
				return dirty(err)
			}
		}
		return nil
	})
}
