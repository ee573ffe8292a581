// Package admintest serves the real queue's operator commands (queue.Ops)
// over a real spool in a temporary directory on a temporary Unix socket,
// for tests of the admin API and of the CLI verbs that call it. Fixtures
// are made through the store's and the queue's own APIs, so a test sees
// exactly what the daemon would show. It is imported only by tests.
package admintest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/queue"
	"github.com/outbox-mta/outbox/queue/admin"
	"github.com/outbox-mta/outbox/store"
)

// Queue is the real queue's operator commands over a real store.DB in
// t.TempDir(), behind a spy: it records each call and, when Err is set,
// fails every call with Err without running it. The queue is never run,
// so nothing is delivered; Flush and Release make recipients due as the
// daemon's would.
//
// Messages are added under a fixture name (their ID field, "m1") and
// stored under the store's own ID; ID and Expand turn names into IDs.
type Queue struct {
	// Now is the clock of the store and the queue; default time.Now.
	Now func() time.Time
	// Err, when set, is returned by every operation.
	Err error

	t   testing.TB
	db  *store.DB
	ops *queue.Ops

	mu       sync.Mutex
	ids      map[string]string // fixture name → store ID
	calls    []string
	lastList store.Filter
}

var _ admin.Queue = (*Queue)(nil)

// NewQueue opens a spool in a temporary directory, closed when the test
// ends, and a queue over it. Every body is kept in a file, so that
// Quarantine can take one away.
func NewQueue(t testing.TB) *Queue {
	t.Helper()
	q := &Queue{t: t, ids: map[string]string{}}
	quiet := slog.New(slog.DiscardHandler)
	db, err := store.Open(t.TempDir(), store.Options{Logger: quiet, Now: q.now, InlineMax: -1})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	qu, err := queue.New(db, notRun{}, queue.Options{Logger: quiet, Clock: clock{q}, Warmup: -1})
	if err != nil {
		t.Fatalf("queue.New: %v", err)
	}
	q.db, q.ops = db, qu.Ops()
	return q
}

// DB is the spool, for fixtures the queue's API does not make.
func (q *Queue) DB() *store.DB { return q.db }

// Add enqueues m, recipients in the states it gives them, with a body of
// the raw header block headers, a blank line and "body of NAME\r\n". m.ID
// is the fixture's name; Add sets it to the store's ID and returns it.
func (q *Queue) Add(m *store.Message, headers string) string {
	q.t.Helper()
	name := m.ID
	b, err := q.db.NewBody()
	if err != nil {
		q.t.Fatalf("NewBody: %v", err)
	}
	if _, err := io.WriteString(b, headers+"\r\nbody of "+name+"\r\n"); err != nil {
		q.t.Fatalf("write body: %v", err)
	}
	if err := q.db.Enqueue(context.Background(), m, b); err != nil {
		q.t.Fatalf("Enqueue %s: %v", name, err)
	}
	q.name(name, m.ID)
	return m.ID
}

// AddAll is Add for many messages, each with an empty header block: the
// bodies are made in order, so IDs follow the slice, and the commits run
// concurrently, so that the store's group commit shares them.
func (q *Queue) AddAll(ms []*store.Message) {
	q.t.Helper()
	bodies := make([]*store.Body, len(ms))
	for i, m := range ms {
		b, err := q.db.NewBody()
		if err != nil {
			q.t.Fatalf("NewBody: %v", err)
		}
		if _, err := io.WriteString(b, "\r\nbody of "+m.ID+"\r\n"); err != nil {
			q.t.Fatalf("write body: %v", err)
		}
		bodies[i] = b
	}
	names := make([]string, len(ms))
	errs := make([]error, len(ms))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i, m := range ms {
		names[i] = m.ID
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			errs[i] = q.db.Enqueue(context.Background(), m, bodies[i])
			<-sem
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		q.t.Fatalf("Enqueue: %v", err)
	}
	for i, m := range ms {
		q.name(names[i], m.ID)
	}
}

// AddBounce makes the bounce log row b through the store: a message from
// b.From to b.Rcpt is enqueued, bounced by an Update whose attempt has
// b's time, host, codes and diagnostic, then deleted, so that only its
// row remains. b.MsgID is the fixture's name of that message; the row's
// ID, returned, is the store's.
func (q *Queue) AddBounce(b store.Bounce) string {
	q.t.Helper()
	m := &store.Message{ID: b.MsgID, From: b.From, Recipients: []store.Recipient{{Addr: b.Rcpt}}}
	id := q.Add(m, "Subject: bounced\r\n")
	err := q.db.Update(context.Background(), id, func(m *store.Message) error {
		r := &m.Recipients[0]
		r.State, r.Attempts, r.LastReply = store.StateBounced, b.Attempts, b.Diag
		r.History = append(r.History, store.Attempt{Time: b.Time, Host: b.Host, Code: b.Code,
			Enhanced: b.Enhanced, Reply: b.Diag, Result: store.StateBounced})
		return nil
	})
	if err != nil {
		q.t.Fatalf("bounce %s: %v", b.MsgID, err)
	}
	if err := q.db.Delete(context.Background(), id); err != nil {
		q.t.Fatalf("delete %s: %v", b.MsgID, err)
	}
	return id
}

// Quarantine adds m (as Add does) and then takes its body file away: the
// store quarantines the message at the next read of its body, as it would
// after a lost file. It returns the store's ID.
func (q *Queue) Quarantine(m *store.Message) string {
	q.t.Helper()
	id := q.Add(m, "Subject: lost\r\n")
	if err := os.Remove(filepath.Join(q.db.Dir(), "bodies", id)); err != nil {
		q.t.Fatalf("remove the body of %s: %v", id, err)
	}
	if _, err := q.db.OpenBody(context.Background(), id); !errors.Is(err, store.ErrCorrupt) {
		q.t.Fatalf("OpenBody of a lost body: %v, want store.ErrCorrupt", err)
	}
	return id
}

// ID is the store's ID of the message added under the fixture name name.
func (q *Queue) ID(name string) string {
	q.t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	id, ok := q.ids[name]
	if !ok {
		q.t.Fatalf("admintest: no message named %q", name)
	}
	return id
}

// Expand replaces each fixture name in s, as a whole word, by its ID: for
// expected outputs written with the names.
func (q *Queue) Expand(s string) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	for name, id := range q.ids {
		s = regexp.MustCompile(`\b`+regexp.QuoteMeta(name)+`\b`).ReplaceAllLiteralString(s, id)
	}
	return s
}

// Names replaces each message ID in s by its fixture name: for outputs
// compared with expectations written with the names.
func (q *Queue) Names(s string) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	for name, id := range q.ids {
		s = strings.ReplaceAll(s, id, name)
	}
	return s
}

// Message returns the stored record of the message with this fixture name
// or ID, nil when it is gone.
func (q *Queue) Message(nameOrID string) *store.Message {
	q.mu.Lock()
	id, ok := q.ids[nameOrID]
	q.mu.Unlock()
	if !ok {
		id = nameOrID
	}
	m, err := q.db.Get(context.Background(), id)
	if err != nil {
		return nil
	}
	return m
}

// Calls returns the operations made so far, as "op arg" strings, with
// message IDs shown by their fixture names.
func (q *Queue) Calls() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.calls)
}

// LastFilter returns the filter of the most recent List.
func (q *Queue) LastFilter() store.Filter {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.lastList
}

func (q *Queue) now() time.Time {
	if q.Now != nil {
		return q.Now()
	}
	return time.Now()
}

// name records that fixture name is stored as id.
func (q *Queue) name(name, id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, dup := q.ids[name]; dup {
		q.t.Fatalf("admintest: two messages named %q", name)
	}
	if name != "" {
		q.ids[name] = id
	}
}

// begin records a call, its argument's IDs shown by their names, and
// returns the configured error.
func (q *Queue) begin(op, arg string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for name, id := range q.ids {
		arg = strings.ReplaceAll(arg, id, name)
	}
	q.calls = append(q.calls, strings.TrimSpace(op+" "+arg))
	return q.Err
}

// List implements admin.Queue.
func (q *Queue) List(ctx context.Context, f store.Filter) ([]*store.Message, error) {
	q.mu.Lock()
	q.lastList = f
	q.mu.Unlock()
	if err := q.begin("list", f.After); err != nil {
		return nil, err
	}
	return q.ops.List(ctx, f)
}

// Get implements admin.Queue.
func (q *Queue) Get(ctx context.Context, id string) (*store.Message, error) {
	if err := q.begin("get", id); err != nil {
		return nil, err
	}
	return q.ops.Get(ctx, id)
}

// Headers implements admin.Queue.
func (q *Queue) Headers(ctx context.Context, id string) (string, error) {
	if err := q.begin("headers", id); err != nil {
		return "", err
	}
	return q.ops.Headers(ctx, id)
}

// OpenMessage implements admin.Queue.
func (q *Queue) OpenMessage(ctx context.Context, id string) (io.ReadCloser, int64, error) {
	if err := q.begin("cat", id); err != nil {
		return nil, 0, err
	}
	return q.ops.OpenMessage(ctx, id)
}

// Flush implements admin.Queue.
func (q *Queue) Flush(ctx context.Context, id string) error {
	if err := q.begin("flush", id); err != nil {
		return err
	}
	return q.ops.Flush(ctx, id)
}

// FlushDomain implements admin.Queue.
func (q *Queue) FlushDomain(ctx context.Context, domain string) (int, error) {
	if err := q.begin("flush-domain", domain); err != nil {
		return 0, err
	}
	return q.ops.FlushDomain(ctx, domain)
}

// FlushAll implements admin.Queue.
func (q *Queue) FlushAll(ctx context.Context) (int, error) {
	if err := q.begin("flush-all", ""); err != nil {
		return 0, err
	}
	return q.ops.FlushAll(ctx)
}

// Hold implements admin.Queue.
func (q *Queue) Hold(ctx context.Context, id string) error {
	if err := q.begin("hold", id); err != nil {
		return err
	}
	return q.ops.Hold(ctx, id)
}

// Release implements admin.Queue.
func (q *Queue) Release(ctx context.Context, id string) error {
	if err := q.begin("release", id); err != nil {
		return err
	}
	return q.ops.Release(ctx, id)
}

// Delete implements admin.Queue.
func (q *Queue) Delete(ctx context.Context, id string) error {
	if err := q.begin("delete", id); err != nil {
		return err
	}
	return q.ops.Delete(ctx, id)
}

// Bulk implements admin.Queue; it records one call "bulk OP N" with N the
// messages the queue matched (a dry run's count) before it acts.
func (q *Queue) Bulk(ctx context.Context, op string, ids []string, f store.Filter, dryRun bool) (int, error) {
	n := 0
	if q.Err == nil {
		var err error
		if n, err = q.ops.Bulk(ctx, op, ids, f, true); err != nil {
			return 0, err
		}
	}
	if err := q.begin("bulk", fmt.Sprintf("%s %d", op, n)); err != nil {
		return 0, err
	}
	return q.ops.Bulk(ctx, op, ids, f, dryRun)
}

// Bounces implements admin.Queue.
func (q *Queue) Bounces(ctx context.Context, since time.Time) ([]store.Bounce, error) {
	arg := ""
	if !since.IsZero() {
		arg = since.UTC().Format(time.RFC3339)
	}
	if err := q.begin("bounces", arg); err != nil {
		return nil, err
	}
	return q.ops.Bounces(ctx, since)
}

// Quarantined implements admin.Queue.
func (q *Queue) Quarantined(ctx context.Context) ([]store.Quarantined, error) {
	if err := q.begin("quarantined", ""); err != nil {
		return nil, err
	}
	return q.ops.Quarantined(ctx)
}

// SpoolStats implements admin.Queue.
func (q *Queue) SpoolStats(ctx context.Context) (store.Stats, error) {
	if err := q.begin("stats", ""); err != nil {
		return store.Stats{}, err
	}
	return q.ops.SpoolStats(ctx)
}

// clock is the queue's Clock on q.now; its timers are real ones (the
// queue is not run, so none is armed).
type clock struct{ q *Queue }

func (c clock) Now() time.Time { return c.q.now() }

func (c clock) NewTimer(d time.Duration) queue.Timer { return queue.SystemClock().NewTimer(d) }

// notRun is the Deliverer of a queue that is never run.
type notRun struct{}

func (notRun) Deliver(context.Context, *delivery.Envelope) *delivery.Result {
	panic("admintest: the queue delivered, but it is never run")
}

// Serve serves q on a new admin socket in a short temporary directory and
// returns the socket's path; the server is shut down when the test ends.
func Serve(t testing.TB, q admin.Queue) string {
	t.Helper()
	return ServeWith(t, admin.Options{Queue: q})
}

// ServeWith is Serve with the server's other options (Explain,
// Throttles, Dispatch); opts.Logger defaults to a silent one.
func ServeWith(t testing.TB, opts admin.Options) string {
	t.Helper()
	path := filepath.Join(SocketDir(t), "admin.sock")
	l, err := admin.Listen(path)
	if err != nil {
		t.Fatalf("admin.Listen: %v", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	srv, err := admin.New(opts)
	if err != nil {
		t.Fatalf("admin.New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, admin.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return path
}

// SocketDir returns a new temporary directory with a short path, removed
// when the test ends: t.TempDir embeds the test name and can exceed the
// 107-byte limit of a Unix socket path.
func SocketDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "obx")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
