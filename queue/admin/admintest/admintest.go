// Package admintest provides an in-memory admin.Queue and a helper that
// serves it on a temporary Unix socket, for tests of the admin API and of
// the CLI verbs that call it. It is imported only by tests.
package admintest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/queue"
	"github.com/outbox-mta/outbox/queue/admin"
	"github.com/outbox-mta/outbox/store"
)

// Queue is an in-memory admin.Queue. Flush, hold and release change the
// messages it holds by the real queue's rules (queue.FlushRecipient,
// HoldRecipient, ReleaseRecipient).
type Queue struct {
	// Now is the clock used by Flush and Release; default time.Now.
	Now func() time.Time
	// Err, when set, is returned by every operation.
	Err error

	mu       sync.Mutex
	msgs     map[string]*store.Message
	headers  map[string]string
	bounces  []store.Bounce
	quar     []store.Quarantined
	calls    []string
	lastList store.Filter
}

var _ admin.Queue = (*Queue)(nil)

// NewQueue returns a queue holding copies of msgs.
func NewQueue(msgs ...*store.Message) *Queue {
	q := &Queue{msgs: map[string]*store.Message{}, headers: map[string]string{}}
	for _, m := range msgs {
		q.Add(m, "")
	}
	return q
}

// Add stores a copy of m with the given raw header block.
func (q *Queue) Add(m *store.Message, headers string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.msgs[m.ID] = clone(m)
	q.headers[m.ID] = headers
}

// AddBounce appends a row to the bounce log.
func (q *Queue) AddBounce(b store.Bounce) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.bounces = append(q.bounces, b)
}

// Message returns a copy of a stored message, nil when absent.
func (q *Queue) Message(id string) *store.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	if m, ok := q.msgs[id]; ok {
		return clone(m)
	}
	return nil
}

// Calls returns the operations made so far, as "op arg" strings.
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

// begin records a call and returns the configured error, under q.mu.
func (q *Queue) begin(op, arg string) error {
	q.calls = append(q.calls, strings.TrimSpace(op+" "+arg))
	return q.Err
}

func (q *Queue) get(id string) (*store.Message, error) {
	m, ok := q.msgs[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	return m, nil
}

// List implements admin.Queue with the store's semantics: ID order, IDs
// after f.After, at most f.Limit (default and cap as the store's), finished
// messages only when f.Done.
func (q *Queue) List(ctx context.Context, f store.Filter) ([]*store.Message, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.lastList = f
	if err := q.begin("list", f.After); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(q.msgs))
	for id := range q.msgs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	limit := f.Limit
	if limit <= 0 {
		limit = store.DefaultListLimit
	}
	limit = min(limit, store.MaxListLimit)
	var out []*store.Message
	for _, id := range ids {
		if len(out) == limit {
			break
		}
		m := q.msgs[id]
		if id <= f.After || !f.Match(m) {
			continue
		}
		out = append(out, clone(m))
	}
	return out, nil
}

// Get implements admin.Queue.
func (q *Queue) Get(ctx context.Context, id string) (*store.Message, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.begin("get", id); err != nil {
		return nil, err
	}
	m, err := q.get(id)
	if err != nil {
		return nil, err
	}
	return clone(m), nil
}

// Headers implements admin.Queue.
func (q *Queue) Headers(ctx context.Context, id string) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.begin("headers", id); err != nil {
		return "", err
	}
	if _, err := q.get(id); err != nil {
		return "", err
	}
	return q.headers[id], nil
}

// OpenMessage implements admin.Queue: the message is its headers, a blank
// line and the body "body of ID\r\n".
func (q *Queue) OpenMessage(ctx context.Context, id string) (io.ReadCloser, int64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.begin("cat", id); err != nil {
		return nil, 0, err
	}
	if _, err := q.get(id); err != nil {
		return nil, 0, err
	}
	msg := q.headers[id] + "\r\nbody of " + id + "\r\n"
	return io.NopCloser(strings.NewReader(msg)), int64(len(msg)), nil
}

// flush applies the queue's flush rule (queue.FlushRecipient) to m's
// recipients in domain ("" for all), reporting whether one was pending.
func (q *Queue) flush(m *store.Message, domain string) bool {
	hit := false
	for i := range m.Recipients {
		r := &m.Recipients[i]
		if domain != "" && store.Domain(r.Addr) != store.NormalizeDomain(domain) {
			continue
		}
		if queue.FlushRecipient(r, q.now()) {
			hit = true
		}
	}
	return hit
}

// Flush implements admin.Queue.
func (q *Queue) Flush(ctx context.Context, id string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.begin("flush", id); err != nil {
		return err
	}
	m, err := q.get(id)
	if err != nil {
		return err
	}
	q.flush(m, "")
	return nil
}

// FlushDomain implements admin.Queue.
func (q *Queue) FlushDomain(ctx context.Context, domain string) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.begin("flush-domain", domain); err != nil {
		return 0, err
	}
	n := 0
	for _, m := range q.msgs {
		if q.flush(m, domain) {
			n++
		}
	}
	return n, nil
}

// FlushAll implements admin.Queue.
func (q *Queue) FlushAll(ctx context.Context) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.begin("flush-all", ""); err != nil {
		return 0, err
	}
	n := 0
	for _, m := range q.msgs {
		if q.flush(m, "") {
			n++
		}
	}
	return n, nil
}

// Hold implements admin.Queue: every recipient not final becomes held.
func (q *Queue) Hold(ctx context.Context, id string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.begin("hold", id); err != nil {
		return err
	}
	m, err := q.get(id)
	if err != nil {
		return err
	}
	for i := range m.Recipients {
		queue.HoldRecipient(&m.Recipients[i])
	}
	return nil
}

// Release implements admin.Queue: held recipients are queued, due now.
func (q *Queue) Release(ctx context.Context, id string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.begin("release", id); err != nil {
		return err
	}
	m, err := q.get(id)
	if err != nil {
		return err
	}
	for i := range m.Recipients {
		queue.ReleaseRecipient(&m.Recipients[i], q.now())
	}
	return nil
}

// Delete implements admin.Queue.
func (q *Queue) Delete(ctx context.Context, id string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.begin("delete", id); err != nil {
		return err
	}
	if _, err := q.get(id); err != nil {
		return err
	}
	delete(q.msgs, id)
	delete(q.headers, id)
	return nil
}

// Bulk implements admin.Queue with the queue's per-recipient rules; it
// records one call "bulk OP N" with N the messages selected.
func (q *Queue) Bulk(ctx context.Context, op string, ids []string, f store.Filter, dryRun bool) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var sel []string
	if len(ids) > 0 {
		f.Done = true
		for _, id := range ids {
			if m, ok := q.msgs[id]; ok && f.Match(m) {
				sel = append(sel, id)
			}
		}
	} else {
		for id, m := range q.msgs {
			if f.Match(m) {
				sel = append(sel, id)
			}
		}
	}
	if err := q.begin("bulk", fmt.Sprintf("%s %d", op, len(sel))); err != nil {
		return 0, err
	}
	if dryRun {
		return len(sel), nil
	}
	for _, id := range sel {
		m := q.msgs[id]
		switch op {
		case "delete":
			delete(q.msgs, id)
			delete(q.headers, id)
		case "hold":
			for i := range m.Recipients {
				queue.HoldRecipient(&m.Recipients[i])
			}
		case "release":
			for i := range m.Recipients {
				queue.ReleaseRecipient(&m.Recipients[i], q.now())
			}
		default:
			q.flush(m, f.Domain)
		}
	}
	return len(sel), nil
}

// Bounces implements admin.Queue.
func (q *Queue) Bounces(ctx context.Context, since time.Time) ([]store.Bounce, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	arg := ""
	if !since.IsZero() {
		arg = since.UTC().Format(time.RFC3339)
	}
	if err := q.begin("bounces", arg); err != nil {
		return nil, err
	}
	var out []store.Bounce
	for _, b := range q.bounces {
		if !b.Time.Before(since) {
			out = append(out, b)
		}
	}
	return out, nil
}

// AddQuarantined adds a message to the quarantine.
func (q *Queue) AddQuarantined(e store.Quarantined) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.quar = append(q.quar, e)
}

// Quarantined implements admin.Queue.
func (q *Queue) Quarantined(ctx context.Context) ([]store.Quarantined, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.begin("quarantined", ""); err != nil {
		return nil, err
	}
	return append([]store.Quarantined(nil), q.quar...), nil
}

// SpoolStats implements admin.Queue, counting the messages it holds as
// the store counts its own (store.Stats.Add).
func (q *Queue) SpoolStats(ctx context.Context) (store.Stats, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.begin("stats", ""); err != nil {
		return store.Stats{}, err
	}
	var s store.Stats
	for _, id := range slices.Sorted(maps.Keys(q.msgs)) {
		s.Add(q.msgs[id])
	}
	s.Bounces, s.Quarantined = len(q.bounces), len(q.quar)
	return s, nil
}

func clone(m *store.Message) *store.Message {
	c := *m
	c.Recipients = slices.Clone(m.Recipients)
	for i := range c.Recipients {
		c.Recipients[i].History = slices.Clone(m.Recipients[i].History)
	}
	if m.AtLeastOne != nil {
		v := *m.AtLeastOne
		c.AtLeastOne = &v
	}
	return &c
}

// Serve serves q on a new admin socket in a short temporary directory and
// returns the socket's path; the server is shut down when the test ends.
func Serve(t testing.TB, q admin.Queue) string {
	t.Helper()
	return ServeOptions(t, admin.Options{Queue: q})
}

// ServeOptions is Serve with the server's options (Events, Access...);
// a nil Logger discards.
func ServeOptions(t testing.TB, opts admin.Options) string {
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
