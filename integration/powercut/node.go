package powercut

import (
	"context"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// node is a loopback node whose changes are recorded in the journal.
type node struct {
	*fs.LoopbackNode
	pc *FS
}

var (
	_ fs.NodeWrapChilder    = (*node)(nil)
	_ fs.NodeCreater        = (*node)(nil)
	_ fs.NodeOpener         = (*node)(nil)
	_ fs.NodeSetattrer      = (*node)(nil)
	_ fs.NodeOpendirHandler = (*node)(nil)
)

// WrapChild makes every node of the tree a recording one.
func (n *node) WrapChild(_ context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	return &node{LoopbackNode: ops.(*fs.LoopbackNode), pc: n.pc}
}

// rel is the node's path relative to the root.
func (n *node) rel() string { return n.Path(n.Root()) }

func (n *node) child(name string) string { return filepath.Join(n.rel(), name) }

// name records a change of the names paths in this directory (and, for a
// rename, in another).
func (n *node) name(op Op, dirs, paths []string, fn func() syscall.Errno) syscall.Errno {
	return n.pc.change(Event{Op: op, Path: paths[len(paths)-1]}, func() error {
		return n.pc.j.nameChange(dirs, paths, func() error { return errnoErr(fn()) })
	})
}

// Create creates a file and opens it.
func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (ch *fs.Inode, fh fs.FileHandle, fuseFlags uint32, errno syscall.Errno) {
	rel := n.child(name)
	errno = n.name(OpCreate, []string{n.rel()}, []string{rel}, func() syscall.Errno {
		ch, fh, fuseFlags, errno = n.LoopbackNode.Create(ctx, name, flags, mode, out)
		return errno
	})
	if errno != 0 {
		return nil, nil, 0, errno
	}
	f, errno := n.pc.wrap(rel, fh)
	return ch, f, fuseFlags, errno
}

// Mknod creates a special file.
func (n *node) Mknod(ctx context.Context, name string, mode, rdev uint32, out *fuse.EntryOut) (ch *fs.Inode, errno syscall.Errno) {
	errno = n.name(OpCreate, []string{n.rel()}, []string{n.child(name)}, func() syscall.Errno {
		ch, errno = n.LoopbackNode.Mknod(ctx, name, mode, rdev, out)
		return errno
	})
	return ch, errno
}

// Mkdir creates a directory.
func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (ch *fs.Inode, errno syscall.Errno) {
	errno = n.name(OpCreate, []string{n.rel()}, []string{n.child(name)}, func() syscall.Errno {
		ch, errno = n.LoopbackNode.Mkdir(ctx, name, mode, out)
		return errno
	})
	return ch, errno
}

// Symlink creates a symbolic link.
func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (ch *fs.Inode, errno syscall.Errno) {
	errno = n.name(OpCreate, []string{n.rel()}, []string{n.child(name)}, func() syscall.Errno {
		ch, errno = n.LoopbackNode.Symlink(ctx, target, name, out)
		return errno
	})
	return ch, errno
}

// Unlink removes a name; the file stays in the stash until the cut.
func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	return n.name(OpRemove, []string{n.rel()}, []string{n.child(name)}, func() syscall.Errno {
		return n.LoopbackNode.Unlink(ctx, name)
	})
}

// Rmdir removes an empty directory.
func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	return n.name(OpRemove, []string{n.rel()}, []string{n.child(name)}, func() syscall.Errno {
		return n.LoopbackNode.Rmdir(ctx, name)
	})
}

// Rename moves a name, durable once both directories are fsynced.
func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	np, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	return n.name(OpRename, []string{n.rel(), np.rel()}, []string{n.child(name), np.child(newName)}, func() syscall.Errno {
		return n.LoopbackNode.Rename(ctx, name, np, newName, flags)
	})
}

// Link is refused: a second name for an inode is not tracked.
func (n *node) Link(context.Context, fs.InodeEmbedder, string, *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.ENOTSUP
}

// Tmpfile is refused: a file without a name is not tracked.
func (n *node) Tmpfile(context.Context, uint32, uint32, *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.ENOTSUP
}

// CopyFileRange is refused: its writes would not be recorded.
func (n *node) CopyFileRange(context.Context, fs.FileHandle, uint64, *fs.Inode, fs.FileHandle, uint64, uint64, uint64) (uint32, syscall.Errno) {
	return 0, syscall.ENOTSUP
}

// Open opens a file; O_TRUNC is recorded as a truncate to 0.
func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	rel := n.rel()
	var fh fs.FileHandle
	var fuseFlags uint32
	open := func() error {
		var errno syscall.Errno
		fh, fuseFlags, errno = n.LoopbackNode.Open(ctx, flags)
		return errnoErr(errno)
	}
	var errno syscall.Errno
	if flags&syscall.O_TRUNC != 0 {
		errno = n.pc.change(Event{Op: OpTruncate, Path: rel}, func() error {
			if err := n.pc.j.truncatePath(rel, 0); err != nil {
				return err
			}
			return open()
		})
	} else {
		errno = toErrno(open())
	}
	if errno != 0 {
		return nil, 0, errno
	}
	f, errno := n.pc.wrap(rel, fh)
	return f, fuseFlags, errno
}

// Setattr records a change of size before making it.
func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	sz, ok := in.GetSize()
	if !ok {
		return n.LoopbackNode.Setattr(ctx, unwrap(f), in, out)
	}
	rel := n.rel()
	return n.pc.change(Event{Op: OpTruncate, Path: rel}, func() error {
		var err error
		if h, ok := f.(*file); ok {
			err = n.pc.j.truncate(rel, h.pfd, int64(sz))
		} else {
			err = n.pc.j.truncatePath(rel, int64(sz))
		}
		if err != nil {
			return err
		}
		return errnoErr(n.LoopbackNode.Setattr(ctx, unwrap(f), in, out))
	})
}

// OpendirHandle opens a directory whose fsync is recorded.
func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	ds, fuseFlags, errno := n.LoopbackNode.OpendirHandle(ctx, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	return &dir{FileHandle: ds, n: n}, fuseFlags, 0
}

// truncatePath records a truncate of the file at rel.
func (j *journal) truncatePath(rel string, size int64) error {
	fd, err := unix.Open(j.abs(rel), unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return j.truncate(rel, fd, size)
}

// wrap returns a recording handle for fh, the loopback's handle on the
// file at rel.
func (f *FS) wrap(rel string, fh fs.FileHandle) (*file, syscall.Errno) {
	lf := fh.(*fs.LoopbackFile)
	pfd, err := pathFd(lf)
	if err != nil {
		lf.Release(context.Background())
		return nil, toErrno(err)
	}
	return &file{LoopbackFile: lf, pc: f, rel: rel, pfd: pfd}, 0
}

// pathFd opens an O_PATH descriptor on lf's inode, through /proc: the
// journal reaches the inode by it whatever its names become.
func pathFd(lf *fs.LoopbackFile) (int, error) {
	fd, ok := lf.PassthroughFd()
	if !ok {
		return -1, syscall.EBADF
	}
	return unix.Open("/proc/self/fd/"+strconv.Itoa(fd), unix.O_PATH|unix.O_CLOEXEC, 0)
}

// unwrap returns the loopback handle below a recording one.
func unwrap(fh fs.FileHandle) fs.FileHandle {
	if f, ok := fh.(*file); ok {
		return f.LoopbackFile
	}
	return fh
}
