// Package pgtest runs a private PostgreSQL server for tests: initdb in a
// temporary directory, pg_ctl on a free loopback port with its unix socket
// in that directory, as the postgres user when the tests run as root
// (PostgreSQL refuses to run as root). No mock: the tests of store/pgstore,
// cmd/outbox and integration talk to a real server from Debian's
// postgresql package (.ci/install-peers installs it).
//
// Start one Server per test binary (Lazy, stopped in TestMain) and give
// each test its own database with NewDatabase: initdb and the start cost about a
// second, a CREATE DATABASE a few milliseconds.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrMissing: no PostgreSQL server binaries were found.
var ErrMissing = errors.New("pgtest: PostgreSQL not installed (Debian package postgresql: initdb, pg_ctl under /usr/lib/postgresql/*/bin)")

// Server is a private PostgreSQL instance.
type Server struct {
	bin  string // the directory of initdb and pg_ctl
	dir  string // temporary: data/, the socket and the log
	port int
	user string // the OS user running the server; "" the current one
	dbs  atomic.Int64
	// settings are extra server settings (postgres -c name=value).
	settings []string
}

// BinDir returns the directory holding initdb and pg_ctl: the newest
// major version under /usr/lib/postgresql, or one found on PATH.
func BinDir() (string, error) {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	sort.Slice(found, func(i, j int) bool { return version(found[i]) > version(found[j]) })
	for _, p := range found {
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if _, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	return "", ErrMissing
}

// version is the major version in a /usr/lib/postgresql/N/bin path.
func version(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

// Start initialises and starts a server. Stop it with Stop. Each of
// settings is an extra "name=value" server setting (postgres -c), such as
// "shared_preload_libraries=pg_stat_statements".
func Start(settings ...string) (s *Server, err error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "outbox-pg-")
	if err != nil {
		return nil, err
	}
	s = &Server{bin: bin, dir: dir, settings: settings}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root: run it as postgres, in a
		// directory that is postgres's.
		if err := chownTo(dir, "postgres"); err != nil {
			return nil, err
		}
		s.user = "postgres"
	}
	if out, err := s.run("initdb", "-D", s.data(), "-U", "outbox", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"); err != nil {
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	if s.port, err = freePort(); err != nil {
		return nil, err
	}
	if err := s.Restart(); err != nil {
		return nil, err
	}
	return s, nil
}

// Restart starts the server after Stop (or first at Start), on the same
// port and data: it waits until connections are accepted.
func (s *Server) Restart() error {
	opts := fmt.Sprintf("-h 127.0.0.1 -p %d -k %s -c max_connections=300 -c shared_buffers=32MB", s.port, s.dir)
	for _, kv := range s.settings {
		opts += " -c " + kv
	}
	if out, err := s.run("pg_ctl", "-D", s.data(), "-l", filepath.Join(s.dir, "log"), "-o", opts, "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "log"))
		return fmt.Errorf("pgtest: pg_ctl start: %w\n%s\n%s", err, out, log)
	}
	return nil
}

// Pause stops the server (fast shutdown: connections are cut) and keeps
// its data, for a test of the database going away; Restart brings it back.
func (s *Server) Pause() error {
	if out, err := s.run("pg_ctl", "-D", s.data(), "-m", "fast", "-w", "stop"); err != nil {
		return fmt.Errorf("pgtest: pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

// Stop stops the server and removes its directory.
func (s *Server) Stop() {
	s.run("pg_ctl", "-D", s.data(), "-m", "immediate", "-w", "stop")
	os.RemoveAll(s.dir)
}

// PID is the server's postmaster process ID (every backend is its
// child), 0 when it is not running.
func (s *Server) PID() int {
	data, err := os.ReadFile(filepath.Join(s.data(), "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	return pid
}

// URL is the connection URL of database name.
func (s *Server) URL(name string) string {
	return fmt.Sprintf("postgres://outbox@127.0.0.1:%d/%s?sslmode=disable", s.port, name)
}

// CreateDatabase creates an empty database with a new name and returns
// its URL (the benchmark command's way; tests use NewDatabase).
func (s *Server) CreateDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("t%d_%d", os.Getpid(), s.dbs.Add(1))
	if err := s.exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	return s.URL(name), nil
}

// NewDatabase creates an empty database for t and returns its URL; it is
// dropped when t ends.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url, err := s.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	name := url[strings.LastIndex(url, "/")+1 : strings.Index(url, "?")]
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = s.exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return url
}

func (s *Server) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

// run runs one of the server's programs, as s.user when set.
func (s *Server) run(prog string, args ...string) ([]byte, error) {
	path := filepath.Join(s.bin, prog)
	var cmd *exec.Cmd
	if s.user != "" {
		cmd = exec.Command("runuser", append([]string{"-u", s.user, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = s.dir
	return cmd.CombinedOutput()
}

func chownTo(dir, name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("pgtest: running as root needs the %s user: %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return os.Chown(dir, uid, gid)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Lazy starts a Server at its first use and keeps it for the test binary:
// declare one in a test package and stop it in TestMain after m.Run.
type Lazy struct {
	once sync.Once
	s    *Server
	err  error
}

// Get returns the server, started at the first call, or ends t when there
// is none: a failure under CI=true (CI installs PostgreSQL), a skip
// elsewhere.
func (l *Lazy) Get(t testing.TB) *Server {
	t.Helper()
	l.once.Do(func() { l.s, l.err = Start() })
	if l.s != nil {
		return l.s
	}
	if ci := os.Getenv("CI"); ci != "" && !strings.EqualFold(ci, "false") {
		t.Fatalf("PostgreSQL is required in CI (.ci/install-peers installs it): %v", l.err)
	}
	t.Skipf("no PostgreSQL server: %v", l.err)
	return nil
}

// Stop stops the server if one was started.
func (l *Lazy) Stop() {
	l.once.Do(func() {})
	if l.s != nil {
		l.s.Stop()
	}
}
