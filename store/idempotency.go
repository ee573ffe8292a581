package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Idempotency records one submission made with an idempotency key (the
// HTTP Idempotency-Key header, SMTP's Outbox-Idempotency-Key field), so
// that a client retrying a request whose answer it lost gets that answer
// again instead of a second message.
type Idempotency struct {
	// Key names the submission: the client's identity and its key, as the
	// caller composes them. At most maxIdempotencyKey bytes.
	Key string
	// Request is a hash of the request; the same Key with another request
	// is a client error, not a retry.
	Request [sha256.Size]byte
	// Response is the answer given to the first request, returned to
	// every retry as it was.
	Response []byte
	// Created is when the first request was committed; records older than
	// the retention are pruned (PruneIdempotency).
	Created time.Time
}

// maxIdempotencyKey bounds Idempotency.Key (bbolt keys may be 32 KiB).
const maxIdempotencyKey = 1024

// EnqueueOnce is Enqueue for a submission with an idempotency key. In one
// transaction it looks rec.Key up: when a record created after since is
// there, it returns that record and stores nothing (the caller discards
// b); otherwise it commits m, b and rec together, so a crash can never
// leave a message without its key or a key without its message, and
// returns nil. rec.Created is set to now when zero.
func (db *DB) EnqueueOnce(ctx context.Context, m *Message, b *Body, rec *Idempotency, since time.Time) (prior *Idempotency, err error) {
	if rec == nil || rec.Key == "" || len(rec.Key) > maxIdempotencyKey {
		return nil, errors.New("store: EnqueueOnce needs a key of 1 to 1024 bytes")
	}
	if rec.Created.IsZero() {
		rec.Created = db.now()
	}
	key, val := []byte(rec.Key), encodeIdempotency(rec)
	err = db.enqueue(ctx, m, b, func(tx *bolt.Tx) (bool, error) {
		prior = nil // the op may run again in a retried batch
		idem := bucket(tx, bucketIdempotency)
		if v := idem.Get(key); v != nil {
			if p, ok := decodeIdempotency(rec.Key, v); ok && p.Created.After(since) {
				prior = p
				return false, nil
			}
		}
		return true, idem.Put(key, val)
	})
	return prior, err
}

// PruneIdempotency removes the records created before before and reports
// how many.
func (db *DB) PruneIdempotency(ctx context.Context, before time.Time) (int, error) {
	var old [][]byte
	err := db.view(ctx, func(tx *bolt.Tx) error {
		return bucket(tx, bucketIdempotency).ForEach(func(k, v []byte) error {
			if p, ok := decodeIdempotency(string(k), v); !ok || p.Created.Before(before) {
				old = append(old, append([]byte(nil), k...))
			}
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	return db.deleteKeys(ctx, bucketIdempotency, old)
}

// encodeIdempotency lays a record out as 8-byte big-endian Created nanos,
// the request hash, then the response.
func encodeIdempotency(r *Idempotency) []byte {
	v := make([]byte, 8, 8+sha256.Size+len(r.Response))
	binary.BigEndian.PutUint64(v, uint64(r.Created.UnixNano()))
	v = append(v, r.Request[:]...)
	return append(v, r.Response...)
}

func decodeIdempotency(key string, v []byte) (*Idempotency, bool) {
	if len(v) < 8+sha256.Size {
		return nil, false
	}
	r := &Idempotency{Key: key, Created: time.Unix(0, int64(binary.BigEndian.Uint64(v))), Response: append([]byte(nil), v[8+sha256.Size:]...)}
	copy(r.Request[:], v[8:])
	return r, true
}

// IdempotencyRecords returns every idempotency record, in key order, for
// a copy of the spool to another backend (outbox spool migrate). A record
// that does not decode is left out.
func (db *DB) IdempotencyRecords(ctx context.Context) ([]Idempotency, error) {
	var out []Idempotency
	err := db.view(ctx, func(tx *bolt.Tx) error {
		return bucket(tx, bucketIdempotency).ForEach(func(k, v []byte) error {
			if r, ok := decodeIdempotency(string(k), v); ok {
				out = append(out, *r)
			}
			return nil
		})
	})
	return out, err
}
