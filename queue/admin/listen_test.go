package admin_test

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/outbox-mta/outbox/queue/admin"
	"github.com/outbox-mta/outbox/queue/admin/admintest"
)

func TestListenMode0600(t *testing.T) {
	// Even with a permissive umask the socket is never group or world
	// accessible. (Umask is process-wide: this test must not be parallel.)
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	// The socket's directory is created, private, when missing.
	path := filepath.Join(admintest.SocketDir(t), "run", "admin.sock")
	l, err := admin.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	if di, err := os.Stat(filepath.Dir(path)); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("socket directory: %v, %v; want mode 0700", di, err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a socket with 0600", fi.Mode())
	}
	if got := l.Addr().String(); got != path {
		t.Errorf("Addr %q, want %q", got, path)
	}
	// No temporary directory is left beside it.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the socket", len(entries))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket file still there after Close: %v", err)
	}
}

func TestListenExisting(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		wantErr error // nil: Listen succeeds
		errText string
	}{
		{"stale socket", func(t *testing.T, path string) {
			ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			ul.SetUnlinkOnClose(false)
			ul.Close() // a daemon that died: the file stays, nothing answers
		}, nil, ""},
		{"live daemon", func(t *testing.T, path string) {
			l, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
		}, admin.ErrInUse, ""},
		{"regular file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("precious"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, nil, "is not a socket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(admintest.SocketDir(t), "admin.sock")
			tt.prepare(t, path)
			l, err := admin.Listen(path)
			switch {
			case tt.wantErr == nil && tt.errText == "":
				if err != nil {
					t.Fatalf("Listen: %v", err)
				}
				l.Close()
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Listen error %v, want %v", err, tt.wantErr)
				}
			default:
				if err == nil || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("Listen error %v, want %q", err, tt.errText)
				}
				if b, _ := os.ReadFile(path); string(b) != "precious" {
					t.Error("Listen touched a regular file")
				}
			}
		})
	}
}

func TestNotRunning(t *testing.T) {
	dir := admintest.SocketDir(t)
	stale := filepath.Join(dir, "stale.sock")
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ul.SetUnlinkOnClose(false)
	ul.Close()
	for name, path := range map[string]string{
		"no socket":    filepath.Join(dir, "missing.sock"),
		"stale socket": stale,
	} {
		t.Run(name, func(t *testing.T) {
			c := admin.NewClient(path)
			defer c.Close()
			_, err := c.Get(context.Background(), "m1")
			if !errors.Is(err, admin.ErrNotRunning) {
				t.Fatalf("error %v, want ErrNotRunning", err)
			}
			want := "outbox daemon is not running (no admin socket at " + path + ")"
			if err.Error() != want {
				t.Errorf("error text %q, want %q", err, want)
			}
		})
	}
}

func TestServeAfterShutdown(t *testing.T) {
	srv := newServer(t, admin.Options{Queue: admintest.NewQueue(t)})
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	l, err := admin.Listen(filepath.Join(admintest.SocketDir(t), "admin.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := srv.Serve(l); !errors.Is(err, admin.ErrServerClosed) {
		t.Errorf("Serve after Shutdown = %v, want ErrServerClosed", err)
	}
}
