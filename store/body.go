package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// Body accumulates a message body before Enqueue commits it. The first
// InlineMax bytes are buffered in memory; past that the buffer is written
// to a file (Dir/ID) and dropped, and later writes go straight to the
// file, so a 25 MiB message is never held in memory (let alone twice).
// A Body is not safe for concurrent use.
//
// A Body knows no backend: DB's bodies spill into dir/bodies, where the
// file becomes the stored body at Enqueue; another spool (store/pgstore)
// spills into a scratch directory and copies the body into its database
// at Enqueue, then discards it. Consumers see only *Body, whichever
// spool made it.
type Body struct {
	owner any // the spool that made it; its Enqueue refuses another's
	id    string
	dir   string // a spilled body's file is dir/ID
	// inlineMax: the buffer spills past this many bytes (negative: at
	// the first byte); maxSize: Write fails past it (0: no limit).
	inlineMax, maxSize int64
	buf                bytes.Buffer
	f                  *os.File // non-nil once spilled to a file
	size               int64
	err                error // sticky write error
	// synced: the file is fsynced and closed (Enqueue's first step).
	synced bool
	// done: committed or discarded; further use is an error.
	done bool
}

// NewBody starts a new body; its ID is the ID the message will have.
func (db *DB) NewBody() (*Body, error) {
	select {
	case <-db.quit:
		return nil, ErrClosed
	default:
	}
	return db.bodyWithID(db.ids.next(db.now())), nil
}

// bodyWithID is a new body of db under a given ID (Salvage keeps IDs).
func (db *DB) bodyWithID(id string) *Body {
	return MakeBody(id, BodyOptions{Owner: db, Dir: db.bodyDir, InlineMax: db.opts.InlineMax, MaxSize: db.opts.MaxBodySize})
}

// BodyOptions configure MakeBody.
type BodyOptions struct {
	// Owner is the spool making the body; OwnedBy compares with it.
	Owner any
	// Dir receives the body's file (Dir/ID, created exclusively) once it
	// grows past InlineMax.
	Dir string
	// InlineMax: bodies up to this many bytes stay in memory; negative:
	// every body goes to its file.
	InlineMax int64
	// MaxSize: Write fails with ErrTooBig past this many bytes; 0: no
	// limit.
	MaxSize int64
}

// MakeBody starts a body with id for a spool other than DB (DB.NewBody
// calls it too). The spool reads it back with Open at Enqueue and then
// Discards it, or, like DB, takes its file over.
func MakeBody(id string, o BodyOptions) *Body {
	return &Body{owner: o.Owner, id: id, dir: o.Dir, inlineMax: o.InlineMax, maxSize: o.MaxSize}
}

// OwnedBy reports whether the spool owner made b (BodyOptions.Owner).
func (b *Body) OwnedBy(owner any) bool { return b != nil && b.owner == owner }

// Done reports whether b was committed or discarded: it can no longer be
// written, read back or enqueued.
func (b *Body) Done() bool { return b.done }

// ID is the message ID this body will be committed under.
func (b *Body) ID() string { return b.id }

// Size is the number of bytes written so far.
func (b *Body) Size() int64 { return b.size }

// Write appends to the body. An error sticks: later writes return it too.
func (b *Body) Write(p []byte) (int, error) {
	switch {
	case b.err != nil:
		return 0, b.err
	case b.done || b.synced:
		return 0, errors.New("store: write to a body already enqueued or discarded")
	}
	if max := b.maxSize; max > 0 && b.size+int64(len(p)) > max {
		b.err = fmt.Errorf("%w: over %d bytes", ErrTooBig, max)
		return 0, b.err
	}
	if b.f == nil && b.size+int64(len(p)) > b.inlineMax {
		if err := b.spill(); err != nil {
			b.err = err
			return 0, err
		}
	}
	if b.f == nil {
		n, _ := b.buf.Write(p)
		b.size += int64(n)
		return n, nil
	}
	n, err := b.f.Write(p)
	b.size += int64(n)
	if err != nil {
		b.err = noSpace(fmt.Errorf("store: write body %s: %w", b.id, err))
		return n, b.err
	}
	return n, nil
}

// spill moves the buffered bytes to the body's file.
func (b *Body) spill() error {
	f, err := os.OpenFile(b.path(), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return noSpace(fmt.Errorf("store: create body file: %w", err))
	}
	b.f = f
	if _, err := f.Write(b.buf.Bytes()); err != nil {
		return noSpace(fmt.Errorf("store: write body %s: %w", b.id, err))
	}
	b.buf = bytes.Buffer{}
	return nil
}

// inline reports whether the body lives in bbolt, and its bytes.
func (b *Body) inline() ([]byte, bool) {
	if b.f != nil {
		return nil, false
	}
	return b.buf.Bytes(), true
}

// sync makes a file body durable before its record is committed: fsync the
// file, close it, fsync the directory so its name survives a crash too. A
// crash after this and before the commit leaves an orphan, swept at Open.
func (b *Body) sync() error {
	if b.err != nil {
		return b.err
	}
	if b.f == nil || b.synced {
		return nil
	}
	if err := b.f.Sync(); err != nil {
		b.err = noSpace(fmt.Errorf("store: sync body %s: %w", b.id, err))
		return b.err
	}
	if err := b.f.Close(); err != nil {
		b.err = noSpace(fmt.Errorf("store: close body %s: %w", b.id, err))
		return b.err
	}
	if err := syncDir(b.dir); err != nil {
		return noSpace(err)
	}
	b.synced = true
	return nil
}

// Discard releases an uncommitted body and removes its file, if any. Safe
// after Enqueue (no-op) and more than once.
func (b *Body) Discard() error {
	if b.done {
		return nil
	}
	b.done = true
	b.buf = bytes.Buffer{}
	if b.f == nil {
		return nil
	}
	if !b.synced {
		b.f.Close()
	}
	if err := os.Remove(b.path()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: discard body %s: %w", b.id, err)
	}
	return nil
}

// committed marks the body as owned by the store.
func (b *Body) committed() {
	b.done = true
	b.buf = bytes.Buffer{}
}

// OpenBody opens the stored body of a message, preceded by its
// Message.Prefix. An inline body is copied out of bbolt so no read
// transaction stays open while the caller streams it (a long read
// transaction blocks a writer that must grow the mmap); a file body is
// opened directly.
//
// A file body that cannot be read — missing, unreadable, or not of the size
// its record says, at the open or during the read — quarantines the message
// at once (quarantine.go) and the error wraps ErrCorrupt: retrying cannot
// bring the body back, and a short body must never be sent as if whole.
func (db *DB) OpenBody(ctx context.Context, id string) (io.ReadCloser, error) {
	var data, prefix []byte
	inline, live := false, false
	want := int64(-1) // the file's size by the record; -1: unknown
	err := db.view(ctx, func(tx *bolt.Tx) error {
		prefix = bytes.Clone(bucket(tx, bucketPrefixes).Get([]byte(id)))
		if v := bucket(tx, bucketBodies).Get([]byte(id)); v != nil {
			data = bytes.Clone(v)
			inline = true
			return nil
		}
		raw := bucket(tx, bucketMsgs).Get([]byte(id))
		if raw == nil && bucket(tx, bucketQuarantine).Get([]byte(id)) == nil {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		if m, err := DecodeMessage(raw); raw != nil && err == nil {
			live, want = true, m.Size-int64(len(prefix))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if inline {
		if len(prefix) > 0 {
			data = append(prefix, data...)
		}
		return io.NopCloser(bytes.NewReader(data)), nil
	}
	path := db.bodyPath(id)
	fail := func(reason error) error {
		if live {
			db.quarantineBody(ctx, id, path, reason)
		}
		return fmt.Errorf("%w: body of %s: %v", ErrCorrupt, id, reason)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fail(err)
	}
	if fi, err := f.Stat(); err != nil || (want >= 0 && fi.Size() != want) {
		f.Close()
		if err == nil {
			err = fmt.Errorf("body file %s has %d bytes, its record says %d", path, fi.Size(), want)
		}
		return nil, fail(err)
	}
	var r io.Reader = &bodyFile{f: f, left: want, fail: fail}
	if len(prefix) > 0 {
		r = io.MultiReader(bytes.NewReader(prefix), r)
	}
	return readCloser{Reader: r, f: f}, nil
}

// bodyFile reads a body file, turning a read error, or an end before the
// size its record gives (left, -1 when unknown), into fail's error.
type bodyFile struct {
	f    *os.File
	left int64
	fail func(reason error) error
	err  error // sticky: the message is quarantined once
}

func (b *bodyFile) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.f.Read(p)
	if b.left >= 0 {
		b.left -= int64(n)
	}
	switch {
	case err == io.EOF && b.left > 0:
		b.err = b.fail(fmt.Errorf("body file %s ended %d bytes short: %w", b.f.Name(), b.left, io.ErrUnexpectedEOF))
		return n, b.err
	case err != nil && err != io.EOF:
		b.err = b.fail(err)
		return n, b.err
	}
	return n, err
}

// readCloser reads a body (after its prefix) and closes its file.
type readCloser struct {
	io.Reader
	f *os.File
}

func (p readCloser) Close() error { return p.f.Close() }

func (db *DB) bodyPath(id string) string { return filepath.Join(db.bodyDir, id) }

// path is where the body's file goes once it spills.
func (b *Body) path() string { return filepath.Join(b.dir, b.id) }

// removeBodyFile deletes a file body after the commit that dropped its
// record; a failure only leaves an orphan for the next Open to sweep.
func (db *DB) removeBodyFile(id string) {
	if err := os.Remove(db.bodyPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		db.log.Warn("remove body file", "msgid", id, "err", err)
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("store: sync directory: %w", err)
	}
	return nil
}
