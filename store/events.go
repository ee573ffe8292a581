package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The event log.
//
// Bucket "events" is keyed by the 8-byte big-endian sequence number of the
// bucket (bbolt's NextSequence, committed with the bucket, so it never
// repeats, not across restarts nor after a prune). A value is a version
// byte, the 8-byte big-endian unix nanoseconds of the event (so prune
// reads no JSON), Event.User as a uvarint length and its bytes, and the
// event's JSON, the public shape (Event).
//
// Events are written by Enqueue, Update and Delete in the transaction that
// records the change they report (logEvents): a rolled-back or failed
// transaction writes neither, a committed one both.

const (
	bucketEvents = "events"
	eventV1      = 1
	// MaxEventsPage bounds one Events call.
	MaxEventsPage = 1000
)

// EventType is what happened to one recipient of a message.
type EventType string

// Event types. Every event names one recipient.
const (
	EventAccepted  EventType = "accepted"      // the message was spooled (Enqueue)
	EventDelivered EventType = "delivered"     // the remote server accepted the recipient (final)
	EventDeferred  EventType = "deferred"      // a temporary failure or a destination back-off; NextAttempt says when
	EventBounced   EventType = "bounced"       // given up (final); Class says why
	EventDelay     EventType = "delay_warning" // the sender was warned that the recipient is delayed
	EventHeld      EventType = "held"          // an operator put the recipient on hold
	EventReleased  EventType = "released"      // an operator released it from hold
	EventDeleted   EventType = "deleted"       // an operator deleted the message before the recipient was final
)

// Bounce classes (Event.Class): who decided a permanent failure.
const (
	ClassRemote5xx  = "remote-5xx" // the remote server answered 5xx
	ClassExpired    = "expired"    // the lifetime ran out (4.4.7, no reply of its own)
	ClassDNS        = "dns"        // NXDOMAIN, null MX (RFC 7505): no server to ask
	ClassPolicy     = "policy"     // a local permanent decision without a remote reply
	ClassSuppressed = "suppressed" // the address is on the suppression list
)

// BounceClass sorts a permanent failure by its SMTP reply code and
// enhanced status code (RFC 3463) into one of the classes above, except
// ClassSuppressed, which only its caller knows. Pure, table-tested.
func BounceClass(code int, enhanced string) string {
	switch {
	case code >= 500 && code < 600:
		return ClassRemote5xx
	case code == 0 && enhanced == "4.4.7":
		return ClassExpired
	case strings.HasPrefix(enhanced, "5.1.") || strings.HasPrefix(enhanced, "5.4.4"):
		// 5.1.2 bad destination system (NXDOMAIN), 5.1.10 null MX,
		// 5.4.4 unable to route (RFC 3463, RFC 7505).
		return ClassDNS
	}
	return ClassPolicy
}

// Event is one entry of the event log. Its JSON is the public shape of
// the HTTP feed and the webhook payloads: the names below are stable.
type Event struct {
	// Seq increases across the spool, one per event, never reused.
	Seq uint64 `json:"seq"`
	// Time is when the change was committed.
	Time time.Time `json:"time"`
	Type EventType `json:"type"`
	// QueueID is the spool's message ID (Message.ID).
	QueueID string `json:"queue_id"`
	// MessageID is the message's Message-ID header field, angle brackets
	// included; "" when unknown.
	MessageID string `json:"message_id,omitempty"`
	// From is the envelope sender; "" is the null sender.
	From      string `json:"from"`
	Recipient string `json:"recipient"`
	// Reply is the SMTP reply of the attempt reported, or the local
	// error or decision (Code 0).
	Reply Reply `json:"reply,omitzero"`
	// RemoteHost is the server that answered, "mx.example.com[192.0.2.1]:25".
	RemoteHost string `json:"remote_host,omitempty"`
	// TLS is the session's TLS as delivery reports it: "TLS1.3
	// TLS_AES_128_GCM_SHA256 verified", "none"; "" when no server answered.
	TLS string `json:"tls,omitempty"`
	// TLSVerifiedBy, TLSPolicy and TLSFailure are the attempt's TLS
	// outcome (Attempt.TLSInfo): what authenticated the server ("none",
	// "webpki", "mta-sts", "dane"), the policy applied, and the RFC 8460
	// failure type when the policy failed; "" when not recorded.
	TLSVerifiedBy string `json:"tls_verified_by,omitempty"`
	TLSPolicy     string `json:"tls_policy,omitempty"`
	TLSFailure    string `json:"tls_failure,omitempty"`
	// Attempt is the number of delivery attempts made for the recipient.
	Attempt int `json:"attempt"`
	// Class is a bounce's class (ClassRemote5xx, ...).
	Class string `json:"class,omitempty"`
	// NextAttempt is when a deferred recipient is tried again.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// Tags and Metadata are the message's (Message.Tags, Message.Metadata).
	Tags     []string          `json:"tags,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
	// User is the message's submitter (Message.User), kept beside the
	// JSON and not in it: the HTTP feed shows a client only its own
	// messages' events, as it shows only its own messages.
	User string `json:"-"`
}

// Reply is an SMTP reply (RFC 5321 §4.2) or a local error (Code 0).
type Reply struct {
	Code     int    `json:"code,omitempty"`
	Enhanced string `json:"enhanced,omitempty"`
	Text     string `json:"text,omitempty"`
}

// initEvents creates the events bucket when missing and loads the last
// sequence number; Open calls it once.
func (db *DB) initEvents() error {
	load := func(b *bolt.Bucket) {
		db.ev.Init(b.Sequence())
	}
	err := db.guard(func() error {
		found := false
		err := db.bolt.View(func(tx *bolt.Tx) error {
			if b := bucket(tx, bucketEvents); b != nil {
				found = true
				load(b)
			}
			return nil
		})
		if err != nil || found {
			return err
		}
		// A spool from before the event log: one commit creates it.
		return db.bolt.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte(bucketEvents))
			if err == nil {
				load(b)
			}
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("store: initialise the event log: %w", noSpace(err))
	}
	return nil
}

// LastEventSeq is the sequence number of the newest committed event; 0
// when none was ever written.
func (db *DB) LastEventSeq() uint64 { return db.ev.Last() }

// EventsAfter returns a channel that is closed once an event with a
// sequence number above after is committed: at once when there is one
// already, and when the DB closes. A follower reads Events(after), and
// when it gets none waits on this channel (or its own deadline); no
// polling.
func (db *DB) EventsAfter(after uint64) <-chan struct{} { return db.ev.After(after) }

// Events returns up to limit events with a sequence number above after,
// oldest first (limit ≤ 0 or above MaxEventsPage means MaxEventsPage). An
// entry that does not decode is logged and skipped: its number is a gap.
func (db *DB) Events(ctx context.Context, after uint64, limit int) ([]Event, error) {
	if limit <= 0 || limit > MaxEventsPage {
		limit = MaxEventsPage
	}
	if after == ^uint64(0) {
		return nil, nil // nothing is numbered above it
	}
	var out []Event
	start := seqKey(after + 1)
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b := bucket(tx, bucketEvents)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(start); k != nil && len(out) < limit; k, v = c.Next() {
			e, err := decodeEvent(k, v)
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

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq)
}

func encodeEvent(e *Event) ([]byte, error) {
	js, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	v := make([]byte, 9, 9+binary.MaxVarintLen64+len(e.User)+len(js))
	v[0] = eventV1
	binary.BigEndian.PutUint64(v[1:], uint64(max(e.Time.UnixNano(), 0)))
	v = appendString(v, e.User)
	return append(v, js...), nil
}

func decodeEvent(k, v []byte) (Event, error) {
	var e Event
	if len(k) != 8 || len(v) < 9 || v[0] != eventV1 {
		return e, fmt.Errorf("%w: unknown event version or length", ErrCorrupt)
	}
	d := decoder{b: v[9:]}
	user := d.string()
	if d.err != nil {
		return e, d.err
	}
	if err := json.Unmarshal(d.b, &e); err != nil {
		return e, fmt.Errorf("%w: event: %w", ErrCorrupt, err)
	}
	e.Seq, e.User = binary.BigEndian.Uint64(k), user
	return e, nil
}

// logEvents appends to the log the events of the change from before to
// after (nil before: Enqueue; nil after: Delete), in tx, and wakes the
// followers once tx commits.
func (db *DB) logEvents(tx *bolt.Tx, before, after *Message) error {
	evs := DeriveEvents(before, after, db.now())
	if len(evs) == 0 {
		return nil
	}
	b := bucket(tx, bucketEvents)
	var seq uint64
	for i := range evs {
		var err error
		if seq, err = b.NextSequence(); err != nil {
			return err
		}
		evs[i].Seq = seq
		v, err := encodeEvent(&evs[i])
		if err != nil {
			return err
		}
		if err := b.Put(seqKey(seq), v); err != nil {
			return err
		}
	}
	tx.OnCommit(func() { db.ev.Committed(seq) })
	return nil
}

// PruneEvents removes the events older than before and reports how many.
// Sequence numbers are not reused: a follower behind the pruned ones
// resumes at the oldest kept.
func (db *DB) PruneEvents(ctx context.Context, before time.Time) (int, error) {
	limit := uint64(max(before.UnixNano(), 0))
	var old [][]byte
	err := db.view(ctx, func(tx *bolt.Tx) error {
		c := bucket(tx, bucketEvents).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			// Times follow sequence numbers (one clock, one writer), so
			// the first newer event ends the scan.
			if len(v) >= 9 && binary.BigEndian.Uint64(v[1:9]) >= limit {
				break
			}
			old = append(old, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n, err := db.deleteKeys(ctx, bucketEvents, old)
	if err != nil {
		return n, err
	}
	if n > 0 {
		db.log.Info("pruned", "events", n, "before", before)
	}
	return n, nil
}
