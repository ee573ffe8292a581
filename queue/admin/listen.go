package admin

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// maxSocketPath is the longest path a Unix socket may have on Linux
// (sun_path is 108 bytes including the terminating NUL).
const maxSocketPath = 107

// Listen creates the admin socket at path with mode 0600 and returns its
// listener. Closing the listener removes the socket file.
//
// The socket is bound inside a fresh 0700 directory, chmodded, then renamed
// into place, so it is never reachable with the permissions of the process
// umask, even for an instant. (Only when that temporary name would be too
// long for a socket does Listen bind at path directly and chmod after.)
//
// A socket file left by a daemon that died is removed first; one that a live
// daemon still answers on is an error matching ErrInUse, and a path that is
// not a socket is never removed.
func Listen(path string) (net.Listener, error) {
	return ListenWith(path, Access{})
}

// ListenWith is Listen with the socket opened to a's groups: mode 0660
// and the group's ownership for one group, 0666 for two (the server then
// refuses everyone else by their credentials). The daemon's user must be
// a member of the groups (or root) to give the socket to them.
func ListenWith(path string, a Access) (net.Listener, error) {
	acc, err := a.resolve()
	if err != nil {
		return nil, err
	}
	mode, gid := acc.socketMode()
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("admin socket path %s is longer than %d bytes", path, maxSocketPath)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("admin socket directory: %w", err)
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(dir, ".a")
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	defer os.RemoveAll(tmp)
	bind := filepath.Join(tmp, "s")
	if len(bind) > maxSocketPath {
		bind = path
	}
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: bind, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	// The socket file is removed by our Close, by its final name.
	ul.SetUnlinkOnClose(false)
	fail := func(err error) (net.Listener, error) {
		ul.Close()
		os.Remove(bind)
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if gid >= 0 {
		if err := os.Chown(bind, -1, gid); err != nil {
			return fail(err)
		}
	}
	if err := os.Chmod(bind, mode); err != nil {
		return fail(err)
	}
	if bind != path {
		if err := os.Rename(bind, path); err != nil {
			return fail(err)
		}
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fail(err)
	}
	return &listener{UnixListener: ul, path: path, file: fi}, nil
}

// removeStale removes a socket file at path that no process answers on.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("admin socket: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("admin socket %s exists and is not a socket; refusing to replace it", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%w: a daemon already answers on %s", ErrInUse, path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("admin socket %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing stale admin socket: %w", err)
	}
	return nil
}

// listener reports the socket's final path as its address and removes the
// socket file on Close, unless another process has replaced it since.
type listener struct {
	*net.UnixListener
	path string
	file fs.FileInfo
	once sync.Once
}

func (l *listener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }

func (l *listener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() {
		if fi, serr := os.Lstat(l.path); serr == nil && os.SameFile(fi, l.file) {
			os.Remove(l.path)
		}
	})
	return err
}
