package store

// THIS FILE IS A CONTRACT STUB: the store helper replaces it with the real
// implementation (same exported signatures) and deletes this file.

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"
)

// Sentinel errors of the store.
var (
	ErrNotFound = errors.New("store: message not found")
	ErrCorrupt  = errors.New("store: corrupt record")
	ErrClosed   = errors.New("store: closed")
	ErrTooBig   = errors.New("store: message too big")
)

// Options configure Open. The zero value is usable.
type Options struct {
	LockTimeout time.Duration    // wait for the file lock; default 1s (bbolt's default waits forever)
	InlineMax   int64            // bodies up to this size are kept in bbolt, larger in files
	Logger      *slog.Logger     // default slog.Default()
	Now         func() time.Time // clock; default time.Now
}

// DB is the durable spool.
type DB struct{}

// Open opens (creating if needed) the spool in dir and recovers it.
func Open(dir string, opts Options) (*DB, error) { panic("stub") }

// Close closes the spool.
func (db *DB) Close() error { panic("stub") }

// Body accumulates a message body before Enqueue commits it.
type Body struct{}

// NewBody starts a new body; its ID is the ID the message will have.
func (db *DB) NewBody() (*Body, error) { panic("stub") }

// ID is the message ID this body will be committed under.
func (b *Body) ID() string { panic("stub") }

// Write appends to the body.
func (b *Body) Write(p []byte) (int, error) { panic("stub") }

// Size is the number of bytes written so far.
func (b *Body) Size() int64 { panic("stub") }

// Discard releases an uncommitted body. Safe after Enqueue (no-op).
func (b *Body) Discard() error { panic("stub") }

// Enqueue durably commits m and b (m.ID is set to b.ID()). When it returns
// nil the message is fsynced; concurrent calls share commits.
func (db *DB) Enqueue(ctx context.Context, m *Message, b *Body) error { panic("stub") }

// Get returns a message's record.
func (db *DB) Get(ctx context.Context, id string) (*Message, error) { panic("stub") }

// OpenBody opens the stored body of a message.
func (db *DB) OpenBody(ctx context.Context, id string) (io.ReadCloser, error) { panic("stub") }

// Update reads the message, applies fn, and durably writes the result,
// updating the due index; recipients that became Bounced are appended to the
// bounce log in the same transaction. fn's error aborts the update.
func (db *DB) Update(ctx context.Context, id string, fn func(m *Message) error) error {
	panic("stub")
}

// Delete removes a message, its body and its index entries.
func (db *DB) Delete(ctx context.Context, id string) error { panic("stub") }

// Due returns up to limit IDs of messages whose next attempt is at or before
// now, earliest first, skipping those for which skip returns true.
func (db *DB) Due(ctx context.Context, now time.Time, limit int, skip func(id string) bool) ([]string, error) {
	panic("stub")
}

// NextDue returns the earliest next-attempt time in the queue, false when
// nothing is pending.
func (db *DB) NextDue(ctx context.Context) (time.Time, bool, error) { panic("stub") }

// Filter selects messages for List.
type Filter struct {
	State  State  // 0: any; else messages with at least one recipient in State
	Domain string // "": any; else messages with a recipient in Domain
	After  string // cursor: list IDs after this one
	Limit  int    // 0: default page size
	Done   bool   // include messages whose recipients are all final
}

// List returns messages matching f in ID order.
func (db *DB) List(ctx context.Context, f Filter) ([]*Message, error) { panic("stub") }

// Bounces returns bounce log rows at or after since, oldest first.
func (db *DB) Bounces(ctx context.Context, since time.Time) ([]Bounce, error) { panic("stub") }
