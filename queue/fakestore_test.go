package queue

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// fakeStore is an in-memory Store with the real one's semantics: records are
// copied in and out, Update is atomic and keeps a due index (ID → next
// attempt of pending messages) in step, and recipients that become Bounced
// are appended to a bounce log from their last history entry.
//
// Only the store package can make a usable *store.Body, so NewBody comes
// from a real store.DB in t.TempDir(); Enqueue commits the body there and
// reads its bytes back.
type fakeStore struct {
	bodyDB *store.DB

	mu       sync.Mutex
	msgs     map[string]*store.Message
	bodies   map[string][]byte
	due      map[string]time.Time // the due index
	bounces  []store.Bounce
	seq      int
	pageSize int // List's default page
	now      func() time.Time
	updates  int
	// commitErr, when set, fails every Update and Enqueue (after fn ran,
	// writing nothing) and Probe: a spool that refuses commits.
	commitErr error
	failed    int // commits refused
	probes    int
}

// refuseCommits makes every later commit fail with err (nil: succeed).
func (f *fakeStore) refuseCommits(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.commitErr = err
}

func newFakeStore(t *testing.T, now func() time.Time) *fakeStore {
	t.Helper()
	db, err := store.Open(t.TempDir(), store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open body store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return &fakeStore{
		bodyDB:   db,
		msgs:     make(map[string]*store.Message),
		bodies:   make(map[string][]byte),
		due:      make(map[string]time.Time),
		pageSize: 100,
		now:      now,
	}
}

func (f *fakeStore) NewBody() (*store.Body, error) { return f.bodyDB.NewBody() }

func (f *fakeStore) Enqueue(ctx context.Context, m *store.Message, b *store.Body) error {
	f.mu.Lock()
	err := f.commitErr
	if err != nil {
		f.failed++
	}
	f.mu.Unlock()
	if err != nil {
		return err // the body stays open, as after a real failed commit
	}
	carrier := &store.Message{Recipients: []store.Recipient{{Addr: "x@x", State: store.StateHeld}}}
	if err := f.bodyDB.Enqueue(ctx, carrier, b); err != nil {
		return err
	}
	rc, err := f.bodyDB.OpenBody(ctx, carrier.ID)
	if err != nil {
		return err
	}
	defer rc.Close()
	body, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	m.ID = carrier.ID
	m.Size = int64(len(body))
	if m.Received.IsZero() {
		m.Received = f.now()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.put(m, body)
	return nil
}

// add seeds a message with body, bypassing NewBody; it returns its ID.
func (f *fakeStore) add(m *store.Message, body string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	m.ID = fmt.Sprintf("m%04d", f.seq)
	m.Size = int64(len(body))
	f.put(m, []byte(body))
	return m.ID
}

func (f *fakeStore) put(m *store.Message, body []byte) {
	c := cloneMessage(m)
	for i := range c.Recipients {
		if c.Recipients[i].State == 0 {
			c.Recipients[i].State = store.StateQueued
		}
	}
	f.msgs[m.ID] = &c
	f.bodies[m.ID] = body
	f.reindex(&c)
}

func (f *fakeStore) reindex(m *store.Message) {
	if t, ok := m.NextAttempt(); ok {
		f.due[m.ID] = t
	} else {
		delete(f.due, m.ID)
	}
}

func (f *fakeStore) Get(ctx context.Context, id string) (*store.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.msgs[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", store.ErrNotFound, id)
	}
	c := cloneMessage(m)
	return &c, nil
}

func (f *fakeStore) OpenBody(ctx context.Context, id string) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.bodies[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", store.ErrNotFound, id)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (f *fakeStore) Update(ctx context.Context, id string, fn func(m *store.Message) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	before, ok := f.msgs[id]
	if !ok {
		return fmt.Errorf("%w: %s", store.ErrNotFound, id)
	}
	m := cloneMessage(before)
	if err := fn(&m); err != nil {
		return err
	}
	if f.commitErr != nil {
		f.failed++
		return f.commitErr
	}
	m.ID = id
	was := make(map[string]bool)
	for _, r := range before.Recipients {
		if r.State == store.StateBounced {
			was[r.Addr] = true
		}
	}
	for _, r := range m.Recipients {
		if r.State != store.StateBounced || was[r.Addr] {
			continue
		}
		b := store.Bounce{Time: f.now(), MsgID: id, From: m.From, Rcpt: r.Addr, Diag: r.LastReply, Attempts: r.Attempts}
		if n := len(r.History); n > 0 {
			a := r.History[n-1]
			b.Time, b.Host, b.Code, b.Enhanced, b.Diag = a.Time, a.Host, a.Code, a.Enhanced, a.Reply
		}
		f.bounces = append(f.bounces, b)
	}
	f.msgs[id] = &m
	f.reindex(&m)
	f.updates++
	return nil
}

func (f *fakeStore) Delete(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.msgs[id]; !ok {
		return fmt.Errorf("%w: %s", store.ErrNotFound, id)
	}
	delete(f.msgs, id)
	delete(f.bodies, id)
	delete(f.due, id)
	return nil
}

type dueEntry struct {
	t  time.Time
	id string
}

func (f *fakeStore) sortedDue() []dueEntry {
	es := make([]dueEntry, 0, len(f.due))
	for id, t := range f.due {
		es = append(es, dueEntry{t, id})
	}
	slices.SortFunc(es, func(a, b dueEntry) int {
		if c := a.t.Compare(b.t); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	return es
}

func (f *fakeStore) Due(ctx context.Context, now time.Time, limit int, skip func(id string) bool) ([]string, error) {
	f.mu.Lock()
	es := f.sortedDue()
	f.mu.Unlock() // skip runs without the lock, as it may be slow
	var ids []string
	for _, e := range es {
		if len(ids) >= limit || e.t.After(now) {
			break
		}
		if skip != nil && skip(e.id) {
			continue
		}
		ids = append(ids, e.id)
	}
	return ids, nil
}

// DueLane is Due among the messages of priority p.
func (f *fakeStore) DueLane(ctx context.Context, p store.Priority, now time.Time, limit int, skip func(id string) bool) ([]string, error) {
	f.mu.Lock()
	var es []dueEntry
	for _, e := range f.sortedDue() {
		if m := f.msgs[e.id]; m != nil && m.Priority == p {
			es = append(es, e)
		}
	}
	f.mu.Unlock()
	var ids []string
	for _, e := range es {
		if len(ids) >= limit || e.t.After(now) {
			break
		}
		if skip != nil && skip(e.id) {
			continue
		}
		ids = append(ids, e.id)
	}
	return ids, nil
}

func (f *fakeStore) NextDue(ctx context.Context) (time.Time, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	es := f.sortedDue()
	if len(es) == 0 {
		return time.Time{}, false, nil
	}
	return es[0].t, true, nil
}

func (f *fakeStore) PendingNotices(ctx context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id, m := range f.msgs {
		if m.DSNPending {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

func (f *fakeStore) Quarantined(ctx context.Context) ([]store.Quarantined, error) {
	return nil, nil
}

// Stats counts the fake's messages as the store counts its own.
func (f *fakeStore) Stats(ctx context.Context) (store.Stats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s store.Stats
	for _, id := range slices.Sorted(maps.Keys(f.msgs)) {
		s.Add(f.msgs[id])
	}
	s.Bounces = len(f.bounces)
	return s, nil
}

func (f *fakeStore) List(ctx context.Context, flt store.Filter) ([]*store.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]string, 0, len(f.msgs))
	for id := range f.msgs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	limit := flt.Limit
	if limit <= 0 {
		limit = f.pageSize
	}
	var out []*store.Message
	for _, id := range ids {
		if id <= flt.After || len(out) >= limit {
			continue
		}
		m := f.msgs[id]
		if !flt.Match(m) {
			continue
		}
		c := cloneMessage(m)
		out = append(out, &c)
	}
	return out, nil
}

func (f *fakeStore) Bounces(ctx context.Context, since time.Time) ([]store.Bounce, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []store.Bounce
	for _, b := range f.bounces {
		if !b.Time.Before(since) {
			out = append(out, b)
		}
	}
	return out, nil
}

// msg returns a copy of id's record, failing the test when it is missing.
func (f *fakeStore) msg(t *testing.T, id string) *store.Message {
	t.Helper()
	m, err := f.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return m
}

// rcpt returns recipient addr of id.
func (f *fakeStore) rcpt(t *testing.T, id, addr string) store.Recipient {
	t.Helper()
	for _, r := range f.msg(t, id).Recipients {
		if r.Addr == addr {
			return r
		}
	}
	t.Fatalf("%s has no recipient %s", id, addr)
	return store.Recipient{}
}

// state returns the state of recipient addr of id, 0 when id is gone.
func (f *fakeStore) state(id, addr string) store.State {
	m, err := f.Get(context.Background(), id)
	if err != nil {
		return 0
	}
	for _, r := range m.Recipients {
		if r.Addr == addr {
			return r.State
		}
	}
	return 0
}

// Probe is an empty commit: it fails as Update does while failCommits is set.
func (f *fakeStore) Probe(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.probes++
	return f.commitErr
}
