package submission

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/outbox-mta/outbox/delivery/smtptest"
	"github.com/outbox-mta/outbox/store"
)

// fakeSpool is a real spool in a temporary directory that can be told to
// fail, and that remembers the IDs it committed, in order. Every body is
// kept in a file (InlineMax < 0), so a body left behind is visible.
type fakeSpool struct {
	db  *store.DB
	dir string

	mu         sync.Mutex
	ids        []string
	newBodyErr error
	enqueueErr error
	// block, when set, makes Enqueue wait for it (or ctx) before committing.
	block chan struct{}
	// entered, when set, receives a value as Enqueue starts.
	entered chan struct{}
}

func newFakeSpool(t testing.TB) *fakeSpool {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(dir, store.Options{
		InlineMax: -1,
		Logger:    slog.New(slog.DiscardHandler),
		Now:       func() time.Time { return testNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return &fakeSpool{db: db, dir: dir}
}

func (f *fakeSpool) NewBody() (*store.Body, error) {
	f.mu.Lock()
	err := f.newBodyErr
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return f.db.NewBody()
}

func (f *fakeSpool) Enqueue(ctx context.Context, m *store.Message, b *store.Body) error {
	if f.entered != nil {
		f.entered <- struct{}{}
	}
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.enqueueErr != nil {
		return f.enqueueErr
	}
	if err := f.db.Enqueue(ctx, m, b); err != nil {
		return err
	}
	f.ids = append(f.ids, m.ID)
	return nil
}

func (f *fakeSpool) EnqueueOnce(ctx context.Context, m *store.Message, b *store.Body, rec *store.Idempotency, since time.Time) (*store.Idempotency, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.enqueueErr != nil {
		return nil, f.enqueueErr
	}
	prior, err := f.db.EnqueueOnce(ctx, m, b, rec, since)
	if err == nil && prior == nil {
		f.ids = append(f.ids, m.ID)
	}
	return prior, err
}

func (f *fakeSpool) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ids)
}

// id is the ID of the n-th message committed (from 0), "" if none.
func (f *fakeSpool) id(n int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n >= len(f.ids) {
		return ""
	}
	return f.ids[n]
}

// get returns message id and its body as the listener wrote it (without
// the stored prefix); nil if there is no such message.
func (f *fakeSpool) get(t testing.TB, id string) (*store.Message, string) {
	t.Helper()
	m, body := readStored(t, f.db, id)
	if m == nil {
		return nil, ""
	}
	return m, string(body[len(m.Prefix):])
}

// readStored returns message id of db and its stored body (prefix
// included); nil if there is no such message.
func readStored(t testing.TB, db *store.DB, id string) (*store.Message, []byte) {
	t.Helper()
	ctx := context.Background()
	m, err := db.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) || id == "" {
		return nil, nil
	}
	if err != nil {
		t.Fatal(err)
	}
	rc, err := db.OpenBody(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	body, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return m, body
}

// bodyFiles counts the body files in the spool directory: one per
// committed message once every uncommitted body has been discarded.
func (f *fakeSpool) bodyFiles(t testing.TB) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(f.dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Base(filepath.Dir(path)) != filepath.Base(f.dir) {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

var testNow = time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC)

// logBuffer collects log output for assertions, safely across goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type testServer struct {
	srv   *Server
	addr  string // plain listener, host:port
	spool *fakeSpool
	logs  *logBuffer
}

// startServer runs a Server on 127.0.0.1:0 with a fake spool; edit adjusts
// the options first. Trusted is 127.0.0.1/32 only, so clients bound to
// 127.0.0.2 are "remote".
func startServer(t *testing.T, edit func(*Options)) *testServer {
	t.Helper()
	ts := &testServer{spool: newFakeSpool(t), logs: &logBuffer{}}
	opts := Options{
		Hostname:       "outbox.test",
		MaxMessageSize: 4096,
		MaxRecipients:  3,
		ReadTimeout:    5 * time.Second,
		WriteTimeout:   5 * time.Second,
		Trusted:        []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		Spool:          ts.spool,
		Logger:         slog.New(slog.NewTextHandler(ts.logs, nil)),
		Now:            func() time.Time { return testNow },
	}
	if edit != nil {
		edit(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts.srv = srv
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = l.Addr().String()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return ts
}

// dial connects from local address from ("127.0.0.1" trusted, "127.0.0.2"
// remote) and returns the raw connection.
func dial(t *testing.T, addr, from string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second,
		LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// client returns a go-smtp client connected from from, after EHLO.
func client(t *testing.T, addr, from string) *smtp.Client {
	t.Helper()
	c := smtp.NewClient(dial(t, addr, from))
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	return c
}

// send runs MAIL, RCPTs and DATA and returns the DATA reply text or the
// first error.
func send(c *smtp.Client, from string, to []string, msg string) (string, error) {
	if err := c.Mail(from, nil); err != nil {
		return "", err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return "", err
		}
	}
	w, err := c.Data()
	if err != nil {
		return "", err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return "", err
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", err
	}
	return resp.StatusText, nil
}

// code returns the SMTP code and enhanced code of err, or fails.
func code(t *testing.T, err error) (int, string) {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not an SMTP reply", err, err)
	}
	return se.Code, fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
}

// rawSession speaks SMTP by hand on a connection, for byte-exact payloads.
type rawSession struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func newRaw(t *testing.T, c net.Conn) *rawSession {
	s := &rawSession{t: t, c: c, r: bufio.NewReader(c)}
	return s
}

// reply reads one (possibly multi-line) reply and returns its last line.
func (s *rawSession) reply() string {
	s.t.Helper()
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("reading reply: %v (got %q)", err, line)
		}
		if len(line) < 4 || line[3] != '-' {
			return strings.TrimRight(line, "\r\n")
		}
	}
}

// cmd sends raw bytes and returns the reply.
func (s *rawSession) cmd(raw string) string {
	s.t.Helper()
	if _, err := io.WriteString(s.c, raw); err != nil {
		s.t.Fatal(err)
	}
	return s.reply()
}

// expect fails unless reply starts with prefix.
func expect(t *testing.T, reply, prefix string) {
	t.Helper()
	if !strings.HasPrefix(reply, prefix) {
		t.Fatalf("reply %q, want %q...", reply, prefix)
	}
}

// selfSigned returns a server TLS config for "outbox.test", "localhost" and
// 127.0.0.1, and a client config that trusts it.
func selfSigned(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	ca := smtptest.NewCA(t)
	cert := ca.Issue(t, "outbox.test", "localhost", "127.0.0.1")
	server = &tls.Config{Certificates: []tls.Certificate{cert}}
	client = &tls.Config{RootCAs: ca.Pool, ServerName: "outbox.test"}
	return server, client
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // generous: CI machines are slow under -race
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, not synchronising by sleep
	}
}

func timeNowPlus(ms int) time.Time { return time.Now().Add(time.Duration(ms) * time.Millisecond) }

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// startTLSClient returns a go-smtp client that has done STARTTLS and EHLO.
func startTLSClient(t *testing.T, addr, from string, cfg *tls.Config) *smtp.Client {
	t.Helper()
	c, err := smtp.NewClientStartTLS(dial(t, addr, from), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	return c
}

func dialMaybe(addr string) (net.Conn, error) {
	return net.DialTimeout("tcp", addr, time.Second)
}
