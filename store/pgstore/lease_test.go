package pgstore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// clock is a settable time shared by the nodes of a test.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock    { c := &clock{}; c.ns.Store(t.UnixNano()); return c }
func (c *clock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) add(d time.Duration) { c.ns.Add(int64(d)) }

// twoNodes opens two spools on one new database, as two nodes would.
func twoNodes(t *testing.T, c *clock, lease time.Duration) (a, b *DB) {
	url := pg.Get(t).NewDatabase(t)
	a = openTest(t, url, Options{Node: "a", Lease: lease, Now: c.now, ScratchDir: t.TempDir()})
	b = openTest(t, url, Options{Node: "b", Lease: lease, Now: c.now, ScratchDir: t.TempDir()})
	return a, b
}

func enqueueOne(t *testing.T, db *DB, now time.Time) string {
	t.Helper()
	b, err := db.NewBody()
	if err != nil {
		t.Fatal(err)
	}
	b.Write([]byte("Subject: x\r\n\r\nx\r\n"))
	m := &store.Message{From: "a@example.com", Recipients: []store.Recipient{{Addr: "b@example.org", NextAttempt: now}}}
	if err := db.Enqueue(context.Background(), m, b); err != nil {
		t.Fatal(err)
	}
	return m.ID
}

func deliver(m *store.Message) error {
	m.Recipients[0].State = store.StateDelivered
	m.Recipients[0].Attempts++
	return nil
}

// TestStaleOutcomeFenced: a node that paused past its lease, while
// another node claimed and delivered the message, cannot commit its stale
// outcome; the other node's stands. A claimed message is not due to other
// nodes until the lease ends, even after an operator's update elsewhere.
func TestStaleOutcomeFenced(t *testing.T) {
	ctx := context.Background()
	c := newClock(storeT0)
	const lease = time.Hour // the renewer's tick (lease/3) never comes in this test
	a, b := twoNodes(t, c, lease)
	id := enqueueOne(t, a, c.now())

	if got, err := claimDue(ctx, a, c.now(), 10, nil); err != nil || len(got) != 1 || got[0] != id {
		t.Fatalf("a.Claim = %v, %v; want [%s]", got, err, id)
	}
	if got, _ := claimDue(ctx, b, c.now(), 10, nil); len(got) != 0 {
		t.Fatalf("b claimed %v while a holds the lease", got)
	}
	// An operator's update on b (a flush: due now) leaves a's claim alone.
	if err := b.Update(ctx, id, func(m *store.Message) error { m.Recipients[0].NextAttempt = c.now(); return nil }); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Due(ctx, c.now().Add(lease-time.Second), 10, nil); len(got) != 0 {
		t.Fatalf("after an update on b, the message is due to b inside a's lease: %v", got)
	}

	// a pauses past its lease; b claims the message and delivers it.
	c.add(lease + time.Second)
	if got, err := claimDue(ctx, b, c.now(), 10, nil); err != nil || len(got) != 1 {
		t.Fatalf("b.Claim after a's lease ended = %v, %v", got, err)
	}
	if err := b.Update(ctx, id, deliver); err != nil {
		t.Fatalf("b's outcome: %v", err)
	}
	// a wakes up and records its (stale) bounce: refused, with its event
	// and its listing.
	err := a.Update(ctx, id, func(m *store.Message) error {
		m.Recipients[0].State = store.StateBounced
		m.Recipients[0].LastReply = "stale"
		m.Suppress = []store.Listing{{Suppression: store.Suppression{Addr: m.Recipients[0].Addr, Reason: store.ReasonBounce}}}
		return nil
	})
	if !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("a's stale outcome: %v, want ErrLeaseLost", err)
	}
	evs, _ := b.Events(ctx, 0, 0)
	if len(evs) != 2 || evs[1].Type != store.EventDelivered {
		t.Fatalf("events after the stale outcome: %+v; want accepted, b's delivered", evs)
	}
	if got, _ := b.Suppressed(ctx, []string{"b@example.org"}, c.now()); len(got) != 0 {
		t.Fatalf("the stale outcome listed its address: %v", got)
	}
	m, err := a.Get(ctx, id)
	if err != nil || m.Recipients[0].State != store.StateDelivered || m.Recipients[0].LastReply == "stale" || m.Recipients[0].Attempts != 1 {
		t.Fatalf("after the stale outcome: %+v, %v; want b's delivery", m, err)
	}
	// With the claim gone, a's later updates (an operator's) go through.
	if err := a.Update(ctx, id, func(m *store.Message) error { m.DelayWarned = true; return nil }); err != nil {
		t.Errorf("unfenced update after the lost lease: %v", err)
	}
}

// TestLeaseRenewed: while a node holds a claim its renewer moves the
// lease on, so other nodes never take a delivery that runs longer than
// one lease.
func TestLeaseRenewed(t *testing.T) {
	ctx := context.Background()
	c := newClock(storeT0)
	a, b := twoNodes(t, c, time.Hour)
	id := enqueueOne(t, a, c.now())
	if got, _ := claimDue(ctx, a, c.now(), 10, nil); len(got) != 1 {
		t.Fatalf("a.Claim = %v", got)
	}
	c.add(50 * time.Minute)
	if err := a.renew(ctx); err != nil {
		t.Fatal(err)
	}
	c.add(50 * time.Minute) // past the first lease, inside the renewed one
	if got, _ := claimDue(ctx, b, c.now(), 10, nil); len(got) != 0 {
		t.Fatalf("b claimed %v inside a's renewed lease", got)
	}
	if err := a.Update(ctx, id, deliver); err != nil {
		t.Fatalf("a's outcome under its renewed lease: %v", err)
	}
}

// TestClaimSkipLocked: nodes claiming the same due messages at once take
// each message once between them. Each node skips what it has claimed
// (in flight), as its queue does.
func TestClaimSkipLocked(t *testing.T) {
	ctx := context.Background()
	c := newClock(storeT0)
	a, b := twoNodes(t, c, time.Hour)
	const n = 60
	for range n {
		enqueueOne(t, a, c.now())
	}
	var mu sync.Mutex
	seen := map[string]string{} // ID → the node that claimed it
	inFlight := func(node string) func(string) bool {
		return func(id string) bool {
			mu.Lock()
			defer mu.Unlock()
			return seen[id] == node
		}
	}
	var wg sync.WaitGroup
	for _, db := range []*DB{a, b, a, b} {
		node := db.opts.Node
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := claimDue(ctx, db, c.now(), 5, inFlight(node))
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, id := range got {
					if prev, dup := seen[id]; dup && prev != node {
						t.Errorf("%s claimed by %s and by %s", id, prev, node)
					}
					seen[id] = node
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("%d of %d messages claimed", len(seen), n)
	}
}

var storeT0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// TestListenWakesOtherNodes: an Enqueue on one node wakes the queue of
// another through LISTEN/NOTIFY, and not its own.
func TestListenWakesOtherNodes(t *testing.T) {
	url := pg.Get(t).NewDatabase(t)
	a := openTest(t, url, Options{Node: "a", ScratchDir: t.TempDir()})
	b := openTest(t, url, Options{Node: "b", ScratchDir: t.TempDir()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	woken := make(chan string, 16)
	for _, db := range []*DB{a, b} {
		go db.Listen(ctx, func() { woken <- db.opts.Node })
	}
	deadline := time.After(20 * time.Second)
	for {
		enqueueOne(t, a, time.Now()) // until b's LISTEN is in place
		select {
		case who := <-woken:
			if who != "b" {
				t.Fatalf("node %s woken by its own Enqueue", who)
			}
			return
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatal("b never woken by a's Enqueue")
		}
	}
}

// TestExclusive: while one node runs a job, another node's run of the same
// job is skipped; once it is done, the other node may run it.
func TestExclusive(t *testing.T) {
	ctx := context.Background()
	url := pg.Get(t).NewDatabase(t)
	a := openTest(t, url, Options{Node: "a", ScratchDir: t.TempDir()})
	b := openTest(t, url, Options{Node: "b", ScratchDir: t.TempDir()})
	started, finish := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := a.Exclusive(ctx, "delay_warnings", func(context.Context) error {
			close(started)
			<-finish
			return nil
		})
		done <- err
	}()
	<-started
	ran, err := b.Exclusive(ctx, "delay_warnings", func(context.Context) error { return nil })
	if err != nil || ran {
		t.Fatalf("b ran the job while a was running it: ran %v, err %v", ran, err)
	}
	if ran, err := b.Exclusive(ctx, "prune", func(context.Context) error { return nil }); err != nil || !ran {
		t.Errorf("another job was blocked: ran %v, err %v", ran, err)
	}
	close(finish)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ran, err := b.Exclusive(ctx, "delay_warnings", func(context.Context) error { return nil }); err != nil || !ran {
		t.Errorf("b could not run the job after a finished: ran %v, err %v", ran, err)
	}
}

// claimDue claims up to limit of db's due messages, as the queue's
// dispatcher does (the due index, then Claim).
func claimDue(ctx context.Context, db *DB, now time.Time, limit int, skip func(string) bool) ([]string, error) {
	ids, err := db.Due(ctx, now, limit, skip)
	if err != nil {
		return nil, err
	}
	return db.Claim(ctx, now, ids)
}
