package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Defaults for Options.
const (
	DefaultLockTimeout = time.Second
	// DefaultInlineMax is the largest body kept inside bbolt; see doc.go for
	// the measurements behind it.
	DefaultInlineMax = 128 << 10
)

// Options configure Open. The zero value is usable.
type Options struct {
	// LockTimeout bounds the wait for the spool's file lock; default 1s
	// (bbolt's own default waits forever). A second daemon on the same spool
	// fails with ErrLocked instead of hanging.
	LockTimeout time.Duration
	// InlineMax: bodies up to this many bytes are kept in bbolt, larger ones
	// in files under dir/bodies. 0 means DefaultInlineMax; negative keeps
	// every body in a file.
	InlineMax int64
	// MaxBodySize: Body.Write fails with ErrTooBig past this many bytes;
	// 0 means no limit (the listener enforces the SMTP size limit).
	MaxBodySize int64
	// Logger receives recovery reports and quarantine events; default
	// slog.Default(). The store adds component=store.
	Logger *slog.Logger
	// Now is the clock for message IDs, Received and quarantine times;
	// default time.Now.
	Now func() time.Time
}

// Bucket names. Keys are message IDs unless noted.
const (
	bucketMsgs       = "msgs"       // ID → record (codec.go)
	bucketBodies     = "bodies"     // ID → inline body (body.go)
	bucketDue        = "due"        // 8-byte BE next-attempt nanos + ID → empty (index.go)
	bucketBounces    = "bounces"    // 8-byte BE nanos + 8-byte BE seq → bounce row (bounces.go)
	bucketQuarantine = "quarantine" // ID → quarantine entry (quarantine.go)
	bucketPrefixes   = "prefixes"   // ID → Message.Prefix, when not empty (body.go)
	bucketNotices    = "notices"    // ID → empty, while Message.DSNPending (notices.go)
	bucketFinished   = "finished"   // 8-byte BE Received nanos + ID → empty, once Message.Done (finished.go)
	bucketArrival    = "arrival"    // 8-byte BE Received nanos + ID → empty, while Message.Pending (arrival.go)
	// bucketIdempotency: idempotency key → 8-byte BE Created nanos +
	// request hash + response (idempotency.go).
	bucketIdempotency = "idempotency"
)

// bucket returns a bucket created by recover at Open.
func bucket(tx *bolt.Tx, name string) *bolt.Bucket { return tx.Bucket([]byte(name)) }

// DB is the durable spool: message records, their bodies, the due index and
// the bounce log, in one bbolt file (dir/spool.db) plus large bodies in
// dir/bodies. It is safe for concurrent use.
type DB struct {
	dir     string
	bodyDir string
	path    string // dir/spool.db
	bolt    *bolt.DB
	opts    Options
	log     *slog.Logger

	ids idGen

	// Group commit (commit.go).
	reqs    chan *request
	quit    chan struct{} // closed by Close: stop accepting
	stopped chan struct{} // closed when the committer has exited

	fail failState // fail-stop (failure.go)

	tally tally // the counts behind Stats (stats.go)

	ev eventFeed // the event log's newest sequence number (events.go)

	// failCommit, when set, is called before each commit, and a non-nil
	// error fails that whole batch before anything of it is written. Only
	// the package's tests set it (openFailing), to reach commit failures
	// that no file layer can produce on demand; it is nil in a running
	// daemon.
	failCommit func() error

	closeOnce sync.Once
	closeErr  error

	// Damage (damage.go): the first *DamageError met, and closed with it.
}

// Open opens (creating if needed) the spool in dir and recovers it: orphan
// body files are removed and counts are logged. Nothing "in flight" is ever
// persisted, so attempts interrupted by a crash are simply due again.
func Open(dir string, opts Options) (*DB, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if opts.InlineMax == 0 {
		opts.InlineMax = DefaultInlineMax
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	bodyDir := filepath.Join(dir, "bodies")
	_, statErr := os.Stat(dir)
	created := errors.Is(statErr, fs.ErrNotExist)
	if err := os.MkdirAll(bodyDir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create spool directory: %w", err)
	}
	path := filepath.Join(dir, "spool.db")
	bdb, err := openBolt(path, opts.LockTimeout, false)
	if err != nil {
		return nil, err
	}
	// spool.db and bodies are names in dir, and dir (if MkdirAll just made
	// it) a name in its parent: fsync them before anything is committed
	// into them. An fsync of a file covers its data, not its name
	// (fsync(2)); without this a power cut can take spool.db or bodies
	// away with every message acknowledged since.
	if err := syncDir(dir); err != nil {
		bdb.Close()
		return nil, noSpace(err)
	}
	if created {
		if err := syncDir(filepath.Dir(dir)); err != nil {
			// A parent we may write but not read (mode 0733) cannot be
			// opened to fsync; the spool works, its name is at risk.
			opts.Logger.Warn("cannot fsync the directory holding the new spool: a power cut may lose the spool's name",
				"component", "store", "dir", dir, "err", err)
		}
	}
	db := &DB{
		dir:     dir,
		bodyDir: bodyDir,
		path:    path,
		bolt:    bdb,
		opts:    opts,
		log:     opts.Logger.With("component", "store"),
		ids:     idGen{enc: idEncoding()},
		reqs:    make(chan *request, 1024),
		quit:    make(chan struct{}),
		stopped: make(chan struct{}),
		fail:    failState{ch: make(chan struct{})},
	}
	if err := db.recover(); err != nil {
		db.closeBolt()
		return nil, err
	}
	if err := db.recount(); err != nil {
		db.closeBolt()
		return nil, fmt.Errorf("store: count %s: %w", db.dir, err)
	}
	if err := db.initEvents(); err != nil {
		db.closeBolt()
		return nil, err
	}
	go db.commitLoop()
	return db, nil
}

// openBolt opens the bbolt file at path after checking that it is as long
// as its meta page says (meta.go), so a truncated file is refused before
// anything reads past its end; a panic of bbolt while opening is a
// *DamageError too. readOnly takes a shared lock (spool check, salvage),
// which fails with ErrLocked while a daemon holds the spool.
func openBolt(path string, lockTimeout time.Duration, readOnly bool) (*bolt.DB, error) {
	m, size, ok, err := readMeta(path)
	switch {
	case err != nil && size > 0:
		return nil, &DamageError{Path: path, Problem: err.Error()}
	case err != nil:
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	case ok && size < m.usedSize():
		return nil, &DamageError{Path: path, Problem: fmt.Sprintf(
			"truncated: the file has %d bytes but its meta page (transaction %d) uses %d", size, m.txid, m.usedSize())}
	}
	mmap := 64 << 20 // few remaps: a remap waits for every open read transaction
	if ok {
		mmap = max(mmap, int(m.usedSize()))
	}
	var bdb *bolt.DB
	err = guardFile(path, func() error {
		var err error
		bdb, err = bolt.Open(path, 0o600, &bolt.Options{
			Timeout:         lockTimeout,
			FreelistType:    bolt.FreelistMapType,
			InitialMmapSize: mmap,
			ReadOnly:        readOnly,
			// Read the freelist here, under the guard, rather than later
			// in a goroutine of bbolt's (Tx.Check) that no guard covers.
			PreLoadFreelist: true,
		})
		return err
	})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("%w: %s (waited %v)", ErrLocked, path, lockTimeout)
	case errors.Is(err, ErrDamaged):
		return nil, err
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch):
		return nil, &DamageError{Path: path, Problem: err.Error()}
	case err != nil:
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return bdb, nil
}

// Close stops accepting requests, lets the committer finish the batch in
// progress (queued requests fail with ErrClosed) and closes the file (not
// a damaged one: see closeBolt). Bodies
// not yet enqueued should be discarded first.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		close(db.quit)
		<-db.stopped
		db.ev.close()
		db.closeErr = db.closeBolt()
	})
	return db.closeErr
}

// closeBolt closes the bbolt file, unless it was found damaged: a bbolt
// panic can leave its locks held (a write transaction that panicked while
// starting keeps the writer lock), and bbolt's Close would then wait
// forever. The file and its lock are released when the process exits.
func (db *DB) closeBolt() error {
	if db.damage() != nil {
		return nil
	}
	return guardFile(db.path, db.bolt.Close)
}

// Dir is the spool directory.
func (db *DB) Dir() string { return db.dir }

func (db *DB) now() time.Time { return db.opts.Now() }

// view runs fn in a read transaction after checking ctx and that db is
// open and has not failed: after a fatal commit failure the mmap may show
// a transaction the disk does not hold, so nothing is read from it.
func (db *DB) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := db.Err(); err != nil {
		return err
	}
	select {
	case <-db.quit:
		return ErrClosed
	default:
	}
	err := db.guard(func() error { return db.bolt.View(fn) })
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}
