package powercut

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Op names a change, for Event.
type Op string

// The changes an Event reports.
const (
	OpWrite    Op = "write"
	OpTruncate Op = "truncate"
	OpFsync    Op = "fsync" // of a file (fsync or fdatasync)
	OpFsyncDir Op = "fsyncdir"
	OpCreate   Op = "create" // create, mknod, mkdir, symlink
	OpRemove   Op = "remove" // unlink, rmdir
	OpRename   Op = "rename"
)

// Event is a change the file system is asked to make; Arm's predicate sees
// each one before it is made.
type Event struct {
	Op   Op
	Path string // relative to the mount point ("" is its root)
}

// Options configure Mount.
type Options struct {
	// Seed drives KeepSome's choice and TearPage's page and sector: the
	// same seed and the same operations give the same disk.
	Seed uint64
}

// FS is a mounted power-cut file system. Its methods are safe for
// concurrent use.
type FS struct {
	mountpoint string
	server     *fuse.Server

	mu     sync.Mutex
	j      *journal
	rng    *rand.Rand
	frozen bool             // every change fails with EIO
	armed  func(Event) bool // freezes at the first Event it matches
	fired  chan Event
	done   bool // cut or unmounted
}

// Mount mounts a power-cut file system over backing at mountpoint. Changes
// go through to backing at once; Cut rewinds those that were not durable.
// Files already in backing are durable as they are.
func Mount(mountpoint, backing string, opts Options) (*FS, error) {
	backing, err := filepath.Abs(backing)
	if err != nil {
		return nil, err
	}
	// The stash holds hard links, so it must be on backing's file system.
	stash, err := os.MkdirTemp(filepath.Dir(backing), ".powercut-stash-")
	if err != nil {
		return nil, fmt.Errorf("powercut: %w", err)
	}
	f := &FS{
		mountpoint: mountpoint,
		j:          newJournal(backing, stash),
		rng:        rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
	}
	lr, err := fs.NewLoopbackRoot(backing)
	if err != nil {
		os.RemoveAll(stash)
		return nil, fmt.Errorf("powercut: %w", err)
	}
	root := &node{LoopbackNode: lr.(*fs.LoopbackNode), pc: f}
	lr.(*fs.LoopbackNode).RootData.RootNode = root
	f.server, err = fs.Mount(mountpoint, root, &fs.Options{
		MountOptions: fuse.MountOptions{
			FsName: "powercut",
			Name:   "powercut",
			// As root, mount(2) directly; otherwise through fusermount3.
			DirectMount:   os.Geteuid() == 0,
			DisableXAttrs: true,
		},
	})
	if err != nil {
		os.RemoveAll(stash)
		return nil, fmt.Errorf("powercut: mount %s: %w", mountpoint, err)
	}
	return f, nil
}

// Arm freezes the file system at the first change match returns true for:
// that change and every later one fail with EIO, and the channel receives
// the change. Arm replaces an earlier predicate that has not fired.
func (f *FS) Arm(match func(Event) bool) <-chan Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed = match
	f.fired = make(chan Event, 1)
	return f.fired
}

// Disarm removes the predicate set by Arm, if it has not fired.
func (f *FS) Disarm() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed = nil
}

// Cut is the power cut: every change from now on fails, the file system is
// unmounted and the backing directory rewritten to what a disk holds after
// losing power, by mode. Kill the processes using the file system first:
// unmounting waits (up to 10s) for their open files to close.
func (f *FS) Cut(mode Mode) (Report, error) {
	f.mu.Lock()
	f.frozen = true
	f.mu.Unlock()
	if err := f.unmount(); err != nil {
		return Report{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.j.cut(mode, f.rng)
}

// Unmount unmounts without a cut: the backing directory keeps every change,
// durable or not, as after a clean shutdown.
func (f *FS) Unmount() error {
	if err := f.unmount(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return os.RemoveAll(f.j.stash)
}

func (f *FS) unmount() error {
	f.mu.Lock()
	done := f.done
	f.done = true
	f.mu.Unlock()
	if done {
		return errors.New("powercut: already unmounted")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Server.Unmount retries a busy mount briefly itself.
		err := f.server.Unmount()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("powercut: unmount %s: %w", f.mountpoint, err)
		}
	}
}

// change makes one change unless the file system is frozen, or ev freezes
// it. The lock serialises changes, so each is recorded with the state it
// replaced.
func (f *FS) change(ev Event, fn func() error) syscall.Errno {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.frozen {
		return syscall.EIO
	}
	if f.armed != nil && f.armed(ev) {
		f.frozen, f.armed = true, nil
		f.fired <- ev
		return syscall.EIO
	}
	return toErrno(fn())
}

// toErrno is err's errno: the backing call's own, or EIO for a failure to
// record (which the caller must see rather than an untracked change).
func toErrno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return syscall.EIO
}

// errnoErr turns a go-fuse result into an error (nil for OK).
func errnoErr(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}
