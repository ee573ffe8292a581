package store

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Quarantine.
//
// A message that cannot be read is never fatal and never retried: a record
// that does not decode, wherever it is met (Get, List, Update, Delete,
// Prune), and a message whose body cannot be read (its file missing,
// unreadable, or not of the size the record says: OpenBody and the reader
// it returns) is moved, record bytes intact, to the "quarantine" bucket,
// its index entries are removed (so the scheduler cannot meet it again: no
// crash loop, no retry loop, no week of deferrals blamed on the relay) and
// an error is logged with component=store and msgid (and the body's path).
// Whatever is left of its body is kept for the operator; Delete of the ID
// removes both.

// Quarantined describes one quarantined record.
type Quarantined struct {
	ID     string
	Time   time.Time // when it was quarantined
	Reason string    // the decode error
	Raw    []byte    // the record's bytes as found
}

const quarantineV1 = 1

// quarantine moves id's record to quarantine in its own commit, after a read
// transaction met it; failures are logged (the caller already reports the
// corruption).
func (db *DB) quarantine(ctx context.Context, id string, reason error) {
	db.quarantineWrite(ctx, id, func(tx *bolt.Tx) error { return db.quarantineTx(tx, id, reason) })
}

// quarantineBody quarantines id because its body file at path cannot be
// read (reason), whether its record decodes or not.
func (db *DB) quarantineBody(ctx context.Context, id, path string, reason error) {
	db.quarantineWrite(ctx, id, func(tx *bolt.Tx) error {
		return db.moveToQuarantine(tx, id, reason, func(size int) {
			db.log.Error("message quarantined: its body cannot be read", "msgid", id, "file", path, "reason", reason.Error(), "bytes", size)
		})
	})
}

func (db *DB) quarantineWrite(ctx context.Context, id string, op func(tx *bolt.Tx) error) {
	err := db.write(context.WithoutCancel(ctx), func(tx *bolt.Tx) error { return dirty(op(tx)) })
	if err != nil {
		db.log.Error("quarantine failed", "msgid", id, "err", err)
	}
}

// quarantineTx moves id's record to quarantine if it still fails to decode.
func (db *DB) quarantineTx(tx *bolt.Tx, id string, reason error) error {
	raw := bucket(tx, bucketMsgs).Get([]byte(id))
	if raw == nil {
		return nil
	}
	if _, err := DecodeMessage(raw); err == nil {
		return nil // rewritten since it was read
	}
	return db.moveToQuarantine(tx, id, reason, func(size int) {
		db.log.Error("corrupt record quarantined", "msgid", id, "reason", reason.Error(), "bytes", size)
	})
}

// moveToQuarantine moves id's record, if it is still live, to quarantine
// with reason, drops its index entries, and calls logged once committed.
func (db *DB) moveToQuarantine(tx *bolt.Tx, id string, reason error, logged func(size int)) error {
	key := []byte(id)
	msgs := bucket(tx, bucketMsgs)
	raw := msgs.Get(key)
	if raw == nil {
		return nil
	}
	now := db.now()
	v := []byte{quarantineV1}
	v = appendTime(v, now)
	v = appendString(v, reason.Error())
	v = append(v, raw...) // copies: raw is only valid inside tx
	if err := bucket(tx, bucketQuarantine).Put(key, v); err != nil {
		return err
	}
	d := change{quarantined: 1}
	if m, err := DecodeMessage(raw); err == nil {
		d.count(m, -1) // its body is what failed: it was counted
	}
	db.tallyOnCommit(tx, &d)
	if err := dropCorruptIndexes(tx, id); err != nil {
		return err
	}
	if err := bucket(tx, bucketNotices).Delete(key); err != nil {
		return err
	}
	size := len(raw)
	if err := msgs.Delete(key); err != nil {
		return err
	}
	tx.OnCommit(func() { logged(size) })
	return nil
}

func decodeQuarantined(id string, v []byte) (Quarantined, error) {
	if len(v) == 0 || v[0] != quarantineV1 {
		return Quarantined{}, fmt.Errorf("%w: unknown quarantine entry version", ErrCorrupt)
	}
	d := decoder{b: v[1:]}
	q := Quarantined{ID: id, Time: d.time(), Reason: d.string()}
	if d.err != nil {
		return Quarantined{}, d.err
	}
	q.Raw = append([]byte(nil), d.b...)
	return q, nil
}

// Quarantined lists the quarantined records in ID order.
func (db *DB) Quarantined(ctx context.Context) ([]Quarantined, error) {
	var out []Quarantined
	err := db.view(ctx, func(tx *bolt.Tx) error {
		return bucket(tx, bucketQuarantine).ForEach(func(k, v []byte) error {
			q, err := decodeQuarantined(string(k), v)
			if err != nil {
				q = Quarantined{ID: string(k), Reason: err.Error(), Raw: append([]byte(nil), v...)}
			}
			out = append(out, q)
			return nil
		})
	})
	return out, err
}
