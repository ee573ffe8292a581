package store

import (
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Enqueue durably commits m and b (m.ID is set to b.ID(), m.Size to
// len(m.Prefix)+b.Size(), a zero m.Received to now, and a recipient State of 0 to
// StateQueued). When it returns nil the record and body are fsynced;
// concurrent calls share commits. Recipients may already be final or held
// (a DSN, an imported message): they simply get no due entry.
//
// On a commit failure the body stays usable (retry Enqueue, or Discard it).
// If ctx ends while the commit is in flight Enqueue returns ctx.Err() and the
// message may or may not be stored; the body then belongs to the store (a
// file body left without a record is swept at the next Open).
func (db *DB) Enqueue(ctx context.Context, m *Message, b *Body) error {
	return db.enqueue(ctx, m, b, nil)
}

// enqueue is Enqueue, with first run in the transaction before the
// message is stored: it may write records of its own and decides whether
// the message is stored at all (false: nothing of it is written, and the
// body stays the caller's).
func (db *DB) enqueue(ctx context.Context, m *Message, b *Body, first func(tx *bolt.Tx) (bool, error)) error {
	switch {
	case b == nil || b.db != db:
		return errors.New("store: Enqueue with a body from another DB")
	case b.done:
		return errors.New("store: Enqueue of a body already enqueued or discarded")
	case len(m.Recipients) == 0:
		return errors.New("store: Enqueue of a message without recipients")
	}
	if err := b.sync(); err != nil {
		return err
	}
	m.ID = b.id
	m.Size = int64(len(m.Prefix)) + b.size
	if m.Received.IsZero() {
		m.Received = db.now()
	}
	for i := range m.Recipients {
		if m.Recipients[i].State == 0 {
			m.Recipients[i].State = StateQueued
		}
	}
	rec := EncodeMessage(m)
	data, inline := b.inline()
	key := []byte(m.ID)
	due, hasDue := m.NextAttempt()
	stored := true
	err := db.write(ctx, func(tx *bolt.Tx) error {
		if first != nil {
			var err error
			if stored, err = first(tx); err != nil || !stored {
				return dirty(err)
			}
		}
		msgs := bucket(tx, bucketMsgs)
		if msgs.Get(key) != nil || bucket(tx, bucketQuarantine).Get(key) != nil {
			return fmt.Errorf("store: duplicate message ID %s", m.ID)
		}
		if err := msgs.Put(key, rec); err != nil {
			return dirty(err)
		}
		if inline {
			if err := bucket(tx, bucketBodies).Put(key, data); err != nil {
				return dirty(err)
			}
		}
		if len(m.Prefix) > 0 {
			if err := bucket(tx, bucketPrefixes).Put(key, m.Prefix); err != nil {
				return dirty(err)
			}
		}
		if hasDue {
			if err := bucket(tx, bucketDue).Put(dueKey(due, m.ID), nil); err != nil {
				return dirty(err)
			}
		}
		if err := markNotice(tx, m.ID, nil, m); err != nil {
			return dirty(err)
		}
		if err := markFinished(tx, m.ID, nil, m); err != nil {
			return dirty(err)
		}
		if err := db.logEvents(tx, nil, m); err != nil {
			return dirty(err)
		}
		return dirty(db.change(tx, m.ID, nil, m))
	})
	if (err == nil && stored) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		b.committed()
	}
	return err
}

// Get returns a message's record. A record that does not decode is
// quarantined and Get returns an error wrapping ErrCorrupt.
func (db *DB) Get(ctx context.Context, id string) (*Message, error) {
	var m *Message
	var decodeErr error
	err := db.view(ctx, func(tx *bolt.Tx) error {
		raw := bucket(tx, bucketMsgs).Get([]byte(id))
		if raw == nil {
			if bucket(tx, bucketQuarantine).Get([]byte(id)) != nil {
				return fmt.Errorf("%w: %s is quarantined", ErrCorrupt, id)
			}
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		m, decodeErr = DecodeMessage(raw)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if decodeErr != nil {
		db.quarantine(ctx, id, decodeErr)
		return nil, fmt.Errorf("message %s: %w", id, decodeErr)
	}
	m.ID = id
	return m, nil
}

// Update reads the message, applies fn, and durably writes the result,
// updating the due index; recipients that became Bounced are appended to the
// bounce log in the same transaction. If fn returns an error nothing is
// written and Update returns it.
//
// fn runs inside the group-commit transaction: it must be quick, must only
// modify m (it may be called more than once if its batch is retried), and
// must not call the DB's write methods.
func (db *DB) Update(ctx context.Context, id string, fn func(m *Message) error) error {
	key := []byte(id)
	return db.write(ctx, func(tx *bolt.Tx) error {
		msgs := bucket(tx, bucketMsgs)
		raw := msgs.Get(key)
		if raw == nil {
			if bucket(tx, bucketQuarantine).Get(key) != nil {
				return fmt.Errorf("%w: %s is quarantined", ErrCorrupt, id)
			}
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		before, err := DecodeMessage(raw)
		if err != nil {
			if qerr := db.quarantineTx(tx, id, err); qerr != nil {
				return qerr
			}
			return fmt.Errorf("message %s: %w", id, err)
		}
		before.ID = id
		m, _ := DecodeMessage(raw)
		m.ID = id
		if err := callUpdateFn(fn, m); err != nil {
			return err
		}
		m.ID = id
		for i := range m.Recipients {
			if m.Recipients[i].State == 0 {
				m.Recipients[i].State = StateQueued
			}
		}
		if err := msgs.Put(key, EncodeMessage(m)); err != nil {
			return dirty(err)
		}
		if err := moveDue(tx, id, before, m); err != nil {
			return dirty(err)
		}
		if err := markNotice(tx, id, before, m); err != nil {
			return dirty(err)
		}
		if err := markFinished(tx, id, before, m); err != nil {
			return dirty(err)
		}
		if err := db.logBounces(tx, before, m); err != nil {
			return dirty(err)
		}
		if err := db.logEvents(tx, before, m); err != nil {
			return dirty(err)
		}
		return dirty(db.change(tx, id, before, m))
	})
}

// callUpdateFn runs an Update's fn, turning its panic into an error so
// that a caller's bug fails its own request, not its batch, and is not
// taken for damage of the file (damage.go).
func callUpdateFn(fn func(m *Message) error, m *Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: update of %s panicked: %v", m.ID, p)
		}
	}()
	return fn(m)
}

// Delete removes a message (or a quarantined record), its body and its
// index entries.
func (db *DB) Delete(ctx context.Context, id string) error {
	return db.write(ctx, func(tx *bolt.Tx) error {
		if raw := bucket(tx, bucketMsgs).Get([]byte(id)); raw != nil {
			if m, err := DecodeMessage(raw); err == nil {
				m.ID = id
				if err := db.logEvents(tx, m, nil); err != nil {
					return dirty(err)
				}
			}
		}
		found, err := db.deleteTx(tx, id)
		if err != nil {
			return dirty(err)
		}
		if !found {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		return nil
	})
}

// deleteTx removes id's record (live or quarantined), inline body and due
// entry; a file body is removed once the transaction commits.
func (db *DB) deleteTx(tx *bolt.Tx, id string) (bool, error) {
	key := []byte(id)
	msgs, q := bucket(tx, bucketMsgs), bucket(tx, bucketQuarantine)
	raw := msgs.Get(key)
	switch {
	case raw != nil:
		if m, err := DecodeMessage(raw); err == nil {
			if err := db.change(tx, id, m, nil); err != nil {
				return false, err
			}
			if t, ok := m.NextAttempt(); ok {
				if err := bucket(tx, bucketDue).Delete(dueKey(t, id)); err != nil {
					return false, err
				}
			}
			if m.Done() {
				if err := bucket(tx, bucketFinished).Delete(dueKey(m.Received, id)); err != nil {
					return false, err
				}
			}
		} else if err := dropCorruptIndexes(tx, id); err != nil {
			return false, err
		}
		if err := msgs.Delete(key); err != nil {
			return false, err
		}
	case q.Get(key) != nil:
		if err := q.Delete(key); err != nil {
			return false, err
		}
		db.tallyOnCommit(tx, &change{quarantined: -1})
	default:
		return false, nil
	}
	if err := bucket(tx, bucketPrefixes).Delete(key); err != nil {
		return false, err
	}
	if err := bucket(tx, bucketNotices).Delete(key); err != nil {
		return false, err
	}
	bodies := bucket(tx, bucketBodies)
	if bodies.Get(key) != nil {
		return true, bodies.Delete(key)
	}
	tx.OnCommit(func() { db.removeBodyFile(id) })
	return true, nil
}
