package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Webhook cursors: one record per configured webhook endpoint, saying how
// far into the event log the endpoint has acknowledged delivery and
// whether it is failed. They live in their own bucket, created by the
// first write, so a spool that never had a webhook holds none.

// bucketWebhooks: endpoint name → JSON of WebhookCursor.
const bucketWebhooks = "webhooks"

// maxWebhookName bounds WebhookCursor.Endpoint (a bbolt key).
const maxWebhookName = 256

// WebhookCursor is the persisted state of one webhook endpoint.
type WebhookCursor struct {
	// Endpoint names the endpoint (its configured name).
	Endpoint string `json:"endpoint"`
	// Seq is the sequence number of the last event the endpoint answered
	// with a 2xx (or that its filter skipped); delivery resumes after it.
	Seq uint64 `json:"seq"`
	// Failed: the endpoint kept failing past its retry time; it is probed
	// slowly until it answers or an operator redelivers.
	Failed bool `json:"failed,omitempty"`
	// FailingSince is the first failure of the current run of failures;
	// zero while the endpoint answers.
	FailingSince time.Time `json:"failing_since,omitzero"`
	// LastError is the last failure's description (never the secret).
	LastError string `json:"last_error,omitempty"`
	// Updated is when the record was written.
	Updated time.Time `json:"updated,omitzero"`
}

// WebhookCursor returns the record of endpoint; ok is false when there is
// none (an endpoint never seen before).
func (db *DB) WebhookCursor(ctx context.Context, endpoint string) (c WebhookCursor, ok bool, err error) {
	err = db.view(ctx, func(tx *bolt.Tx) error {
		b := bucket(tx, bucketWebhooks)
		if b == nil {
			return nil
		}
		v := b.Get([]byte(endpoint))
		if v == nil {
			return nil
		}
		if err := json.Unmarshal(v, &c); err != nil {
			return fmt.Errorf("store: webhook cursor %q: %w", endpoint, err)
		}
		c.Endpoint, ok = endpoint, true
		return nil
	})
	return c, ok, err
}

// WebhookCursors returns every endpoint's record, by name.
func (db *DB) WebhookCursors(ctx context.Context) ([]WebhookCursor, error) {
	var out []WebhookCursor
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b := bucket(tx, bucketWebhooks)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var c WebhookCursor
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("store: webhook cursor %q: %w", k, err)
			}
			c.Endpoint = string(k)
			out = append(out, c)
			return nil
		})
	})
	return out, err
}

// CheckWebhookCursor refuses a cursor without an endpoint name of 1 to
// 256 bytes (every backend keys cursors by it).
func CheckWebhookCursor(c *WebhookCursor) error {
	if c.Endpoint == "" || len(c.Endpoint) > maxWebhookName {
		return errors.New("store: a webhook cursor needs an endpoint name of 1 to 256 bytes")
	}
	return nil
}

// PutWebhookCursor commits c (through the group commit, so it shares an
// fsync with the mail being committed and never holds one up). Updated
// is set to now when zero.
func (db *DB) PutWebhookCursor(ctx context.Context, c WebhookCursor) error {
	if err := CheckWebhookCursor(&c); err != nil {
		return err
	}
	if c.Updated.IsZero() {
		c.Updated = db.now()
	}
	v, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("store: webhook cursor %q: %w", c.Endpoint, err)
	}
	return db.write(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(bucketWebhooks))
		if err != nil {
			return dirty(err)
		}
		return dirty(b.Put([]byte(c.Endpoint), v))
	})
}

// EventJSON is an event as the log keeps it: its number, its type and
// its public JSON (Event's, the feed's shape), not decoded.
type EventJSON struct {
	Seq  uint64
	Type EventType
	JSON []byte
}

// EventsJSON is Events without decoding the events: webhooks pass the JSON
// on as kept, which costs a fraction of a decode and a new encoding for
// each event and endpoint. An entry that does not read is logged and
// skipped, as by Events.
func (db *DB) EventsJSON(ctx context.Context, after uint64, limit int) ([]EventJSON, error) {
	if limit <= 0 || limit > MaxEventsPage {
		limit = MaxEventsPage
	}
	if after == ^uint64(0) {
		return nil, nil
	}
	var out []EventJSON
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b := bucket(tx, bucketEvents)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			e, err := eventJSON(k, v)
			if err != nil {
				db.log.Warn("skipping corrupt event", "key", fmt.Sprintf("%x", k), "err", err)
				continue
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// eventJSON reads an entry of the events bucket as encodeEvent lays it
// out (a version byte, the time, Event.User, then the JSON), copying the
// JSON out of the transaction's memory.
func eventJSON(k, v []byte) (EventJSON, error) {
	if len(k) != 8 || len(v) < 9 || v[0] != eventV1 {
		return EventJSON{}, fmt.Errorf("%w: unknown event version or length", ErrCorrupt)
	}
	d := decoder{b: v[9:]}
	d.string() // Event.User: not in the JSON
	if d.err != nil {
		return EventJSON{}, d.err
	}
	return MakeEventJSON(binary.BigEndian.Uint64(k), append([]byte(nil), d.b...))
}

// MakeEventJSON is the EventJSON of event seq whose public JSON is js,
// with its type read from it; the error wraps ErrCorrupt when js is not
// an event's.
func MakeEventJSON(seq uint64, js []byte) (EventJSON, error) {
	var head struct {
		Type EventType `json:"type"`
	}
	if err := json.Unmarshal(js, &head); err != nil {
		return EventJSON{}, fmt.Errorf("%w: event: %w", ErrCorrupt, err)
	}
	return EventJSON{Seq: seq, Type: head.Type, JSON: js}, nil
}
