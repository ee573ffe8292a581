package powercut

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// file is an open file whose writes and fsyncs are recorded. Reads, locks
// and attributes go to the loopback handle it embeds.
type file struct {
	*fs.LoopbackFile
	pc  *FS
	rel string // path at open, for events and reports
	pfd int    // O_PATH descriptor on the inode
}

var (
	_ fs.FileWriter          = (*file)(nil)
	_ fs.FileFsyncer         = (*file)(nil)
	_ fs.FileReleaser        = (*file)(nil)
	_ fs.FilePassthroughFder = (*file)(nil)
	_ fs.FileAllocater       = (*file)(nil)
)

// Write records what data overwrites, then writes it.
func (f *file) Write(ctx context.Context, data []byte, off int64) (written uint32, errno syscall.Errno) {
	errno = f.pc.change(Event{Op: OpWrite, Path: f.rel}, func() error {
		if err := f.pc.j.write(f.rel, f.pfd, off, data); err != nil {
			return err
		}
		var errno syscall.Errno
		written, errno = f.LoopbackFile.Write(ctx, data, off)
		return errnoErr(errno)
	})
	return written, errno
}

// Fsync (and fdatasync: FUSE passes both here) makes the file's data
// durable. The backing file is not synced: the journal is the disk.
func (f *file) Fsync(_ context.Context, _ uint32) syscall.Errno {
	return f.pc.change(Event{Op: OpFsync, Path: f.rel}, func() error {
		return f.pc.j.fsyncFile(f.pfd)
	})
}

// Release closes the handle.
func (f *file) Release(ctx context.Context) syscall.Errno {
	unix.Close(f.pfd)
	return f.LoopbackFile.Release(ctx)
}

// PassthroughFd refuses FUSE passthrough, which would send reads and
// writes to the backing file without this file system seeing them.
func (f *file) PassthroughFd() (int, bool) { return -1, false }

// Allocate is refused: preallocation is not recorded.
func (f *file) Allocate(context.Context, uint64, uint64, uint32) syscall.Errno {
	return syscall.ENOTSUP
}

// dir is an open directory whose fsync is recorded.
type dir struct {
	fs.FileHandle // the loopback's directory stream
	n             *node
}

var (
	_ fs.FileReaddirenter = (*dir)(nil)
	_ fs.FileReleasedirer = (*dir)(nil)
	_ fs.FileSeekdirer    = (*dir)(nil)
	_ fs.FileFsyncdirer   = (*dir)(nil)
)

// Readdirent returns the next entry.
func (d *dir) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	return d.FileHandle.(fs.FileReaddirenter).Readdirent(ctx)
}

// Releasedir closes the stream.
func (d *dir) Releasedir(ctx context.Context, flags uint32) {
	d.FileHandle.(fs.FileReleasedirer).Releasedir(ctx, flags)
}

// Seekdir rewinds the stream.
func (d *dir) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	return d.FileHandle.(fs.FileSeekdirer).Seekdir(ctx, off)
}

// Fsyncdir makes the directory's names durable.
func (d *dir) Fsyncdir(_ context.Context, _ uint32) syscall.Errno {
	rel := d.n.rel()
	return d.n.pc.change(Event{Op: OpFsyncDir, Path: rel}, func() error {
		return d.n.pc.j.fsyncDir(rel)
	})
}
