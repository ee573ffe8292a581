package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The bounce log.
//
// Bucket "bounces" is keyed by the 8-byte big-endian unix nanoseconds of the
// bounce followed by the bucket's 8-byte sequence number (so two bounces in
// the same nanosecond keep their order). Rows are appended by Update in the
// transaction that makes a recipient Bounced, so the log and the records
// never disagree, and removed by Prune.

const bounceV1 = 1

// logBounces appends a row for each recipient of after that is Bounced and
// was not in before (matched by address, so fn may reorder recipients).
func (db *DB) logBounces(tx *bolt.Tx, before, after *Message) error {
	was := make(map[string]bool, len(before.Recipients))
	for _, r := range before.Recipients {
		if r.State == StateBounced {
			was[r.Addr] = true
		}
	}
	bk := bucket(tx, bucketBounces)
	rows := 0
	for _, r := range after.Recipients {
		if r.State != StateBounced || was[r.Addr] {
			continue
		}
		row := Bounce{
			Time:     db.now(),
			MsgID:    after.ID,
			From:     after.From,
			Rcpt:     r.Addr,
			Diag:     r.LastReply,
			Attempts: r.Attempts,
		}
		if n := len(r.History); n > 0 {
			a := r.History[n-1]
			row.Time, row.Host, row.Code, row.Enhanced = a.Time, a.Host, a.Code, a.Enhanced
			if a.Reply != "" {
				row.Diag = a.Reply
			}
			if row.Time.IsZero() {
				row.Time = db.now()
			}
		}
		seq, err := bk.NextSequence()
		if err != nil {
			return err
		}
		key := make([]byte, 16)
		binary.BigEndian.PutUint64(key, uint64(max(row.Time.UnixNano(), 0)))
		binary.BigEndian.PutUint64(key[8:], seq)
		if err := bk.Put(key, encodeBounce(&row)); err != nil {
			return err
		}
		rows++
	}
	if rows > 0 {
		db.tallyOnCommit(tx, &change{bounces: rows})
	}
	return nil
}

func encodeBounce(b *Bounce) []byte {
	out := []byte{bounceV1}
	out = appendTime(out, b.Time)
	for _, s := range []string{b.MsgID, b.From, b.Rcpt, b.Host, b.Enhanced, b.Diag} {
		out = appendString(out, s)
	}
	out = binary.AppendUvarint(out, uint64(max(b.Code, 0)))
	return binary.AppendUvarint(out, uint64(max(b.Attempts, 0)))
}

func decodeBounce(v []byte) (Bounce, error) {
	if len(v) == 0 || v[0] != bounceV1 {
		return Bounce{}, fmt.Errorf("%w: unknown bounce row version", ErrCorrupt)
	}
	d := decoder{b: v[1:]}
	var b Bounce
	b.Time = d.time()
	b.MsgID, b.From, b.Rcpt = d.string(), d.string(), d.string()
	b.Host, b.Enhanced, b.Diag = d.string(), d.string(), d.string()
	b.Code = int(d.int64())
	b.Attempts = int(d.int64())
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	return b, d.err
}

// Bounces returns bounce log rows at or after since, oldest first. A row
// that does not decode is logged and skipped.
func (db *DB) Bounces(ctx context.Context, since time.Time) ([]Bounce, error) {
	var rows []Bounce
	start := make([]byte, 8)
	if !since.IsZero() {
		binary.BigEndian.PutUint64(start, uint64(max(since.UnixNano(), 0)))
	}
	err := db.view(ctx, func(tx *bolt.Tx) error {
		c := bucket(tx, bucketBounces).Cursor()
		for k, v := c.Seek(start); k != nil; k, v = c.Next() {
			b, err := decodeBounce(v)
			if err != nil {
				db.log.Warn("skipping corrupt bounce row", "key", fmt.Sprintf("%x", k), "err", err)
				continue
			}
			rows = append(rows, b)
		}
		return nil
	})
	return rows, err
}

// pruneBounces deletes rows older than before; it returns how many.
func pruneBounces(tx *bolt.Tx, before time.Time) (int, error) {
	end := make([]byte, 8)
	binary.BigEndian.PutUint64(end, uint64(max(before.UnixNano(), 0)))
	var keys [][]byte
	c := bucket(tx, bucketBounces).Cursor()
	for k, _ := c.First(); k != nil && bytes.Compare(k[:min(8, len(k))], end) < 0; k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	bk := bucket(tx, bucketBounces)
	for _, k := range keys {
		if err := bk.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}
