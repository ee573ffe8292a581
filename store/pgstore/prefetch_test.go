package pgstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// enqueueTo enqueues a message to rcpt with body, due at now.
func enqueueTo(t *testing.T, db *DB, now time.Time, rcpt string, body []byte) string {
	t.Helper()
	b, err := db.NewBody()
	if err != nil {
		t.Fatal(err)
	}
	b.Write(body)
	m := &store.Message{From: "a@example.com", Prefix: []byte("Received: x\r\n"),
		Recipients: []store.Recipient{{Addr: rcpt, NextAttempt: now}}}
	if err := db.Enqueue(context.Background(), m, b); err != nil {
		t.Fatal(err)
	}
	return m.ID
}

func claimOne(t *testing.T, db *DB, now time.Time, id string) {
	t.Helper()
	got, err := db.Claim(context.Background(), now, []string{id})
	if err != nil || len(got) != 1 {
		t.Fatalf("Claim: %v, %v", got, err)
	}
}

func readBodyOf(t *testing.T, db *DB, id string) []byte {
	t.Helper()
	rc, err := db.OpenBody(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestClaimPrefetch: what Claim brings for the delivery is what the
// database holds, handed out once: a later Get sees a change another
// node made since, a body past prefetchMax is read whole by OpenBody, and
// the claim's record is not handed out after its lease is lost.
func TestClaimPrefetch(t *testing.T) {
	ctx := context.Background()
	c := newClock(storeT0)
	a, b := twoNodes(t, c, time.Hour)
	for _, size := range []int{10, prefetchMax + 1} {
		body := bytes.Repeat([]byte("x"), size)
		id := enqueueTo(t, a, c.now(), "r@example.org", body)
		claimOne(t, a, c.now(), id)
		m, err := a.Get(ctx, id)
		if err != nil || m.ID != id || len(m.Recipients) != 1 || m.Recipients[0].Addr != "r@example.org" {
			t.Fatalf("Get after Claim: %+v, %v", m, err)
		}
		for range 2 {
			if got := readBodyOf(t, a, id); !bytes.Equal(got, append([]byte("Received: x\r\n"), body...)) {
				t.Fatalf("body of %d bytes: got %d bytes", size, len(got))
			}
		}
		// Another node holds the message meanwhile: the next Get reads it.
		if err := b.Update(ctx, id, func(m *store.Message) error { m.Recipients[0].State = store.StateHeld; return nil }); err != nil {
			t.Fatal(err)
		}
		if m, err := a.Get(ctx, id); err != nil || m.Recipients[0].State != store.StateHeld {
			t.Fatalf("second Get: %+v, %v; want the held recipient", m, err)
		}
	}
	// A lost lease drops what its claim read.
	id := enqueueTo(t, a, c.now(), "r@example.org", []byte("x"))
	claimOne(t, a, c.now(), id)
	a.leases.lose(id)
	if m := a.leases.takeMessage(id); m != nil {
		t.Error("a lost claim still hands out its record")
	}
}

// TestSuppressedAfterClaim: the look-up spared while the list is empty
// still finds an entry added before the message's claim, on either node,
// and one added on this node after it.
func TestSuppressedAfterClaim(t *testing.T) {
	ctx := context.Background()
	c := newClock(storeT0)
	a, b := twoNodes(t, c, time.Hour)
	suppressed := func(addr string) bool {
		t.Helper()
		got, err := a.Suppressed(ctx, []string{addr}, c.now())
		if err != nil {
			t.Fatal(err)
		}
		return len(got) == 1
	}
	first := enqueueTo(t, a, c.now(), "x@example.org", []byte("x"))
	claimOne(t, a, c.now(), first)
	if suppressed("x@example.org") {
		t.Fatal("suppressed with an empty list")
	}
	// Another node lists x while first's claim is live: a message to x
	// claimed after that sees it.
	if _, err := b.Suppress(ctx, store.Suppression{Addr: "x@example.org", Reason: store.ReasonManual}); err != nil {
		t.Fatal(err)
	}
	second := enqueueTo(t, a, c.now(), "x@example.org", []byte("x"))
	claimOne(t, a, c.now(), second)
	if !suppressed("x@example.org") {
		t.Error("an entry another node added before the claim is missed")
	}
	// This node lists y after the claim of a message to y.
	if err := b.Unsuppress(ctx, "x@example.org"); err != nil {
		t.Fatal(err)
	}
	third := enqueueTo(t, a, c.now(), "y@example.org", []byte("x"))
	claimOne(t, a, c.now(), third)
	if suppressed("y@example.org") {
		t.Fatal("y suppressed before it is listed")
	}
	if _, err := a.Suppress(ctx, store.Suppression{Addr: "y@example.org", Reason: store.ReasonManual}); err != nil {
		t.Fatal(err)
	}
	if !suppressed("y@example.org") {
		t.Error("an entry this node added after the claim is missed")
	}
	// An address no claim covers is always looked up.
	if _, err := b.Suppress(ctx, store.Suppression{Addr: "z@example.org", Reason: store.ReasonManual}); err != nil {
		t.Fatal(err)
	}
	if !suppressed("z@example.org") {
		t.Error("an entry of an address no claim covers is missed")
	}
}

// TestClaimedOutcome: the one-round-trip outcome of a claimed delivery
// (outcome.go) keeps a change another node made to the record since the
// claim (fn runs again on it), and a node whose lease was taken over
// gets ErrLeaseLost, its outcome and events dropped.
func TestClaimedOutcome(t *testing.T) {
	ctx := context.Background()
	c := newClock(storeT0)
	const lease = time.Hour
	a, b := twoNodes(t, c, lease)
	id := enqueueOne(t, a, c.now())
	claimOne(t, a, c.now(), id)
	if err := b.Update(ctx, id, func(m *store.Message) error { m.DelayWarned = true; return nil }); err != nil {
		t.Fatal(err)
	}
	calls := 0
	if err := a.Update(ctx, id, func(m *store.Message) error { calls++; return deliver(m) }); err != nil {
		t.Fatal(err)
	}
	m, err := b.Get(ctx, id)
	if err != nil || !m.DelayWarned || m.Recipients[0].State != store.StateDelivered {
		t.Fatalf("after b's change and a's outcome: %+v, %v; want both", m, err)
	}
	if calls != 2 {
		t.Errorf("fn ran %d times; want 2 (the claim's record, then the changed one)", calls)
	}

	// a's lease ends and b takes the message over: a's outcome is refused.
	id = enqueueOne(t, a, c.now())
	claimOne(t, a, c.now(), id)
	c.add(lease + time.Second)
	claimOne(t, b, c.now(), id)
	stale := func(m *store.Message) error {
		m.Recipients[0].State, m.Recipients[0].LastReply = store.StateBounced, "stale"
		return nil
	}
	if err := a.Update(ctx, id, stale); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("a's stale outcome: %v, want ErrLeaseLost", err)
	}
	if m, err := b.Get(ctx, id); err != nil || m.Recipients[0].State != store.StateQueued {
		t.Fatalf("after the stale outcome: %+v, %v; want it queued", m, err)
	}
	if err := b.Update(ctx, id, deliver); err != nil {
		t.Fatalf("b's outcome: %v", err)
	}
	evs, _ := b.Events(ctx, 0, 0)
	for _, e := range evs {
		if e.QueueID == id && e.Type == store.EventBounced {
			t.Errorf("the stale outcome's event was written: %+v", e)
		}
	}
}

// TestClaimedOutcomesGrouped: concurrent outcomes of claimed deliveries
// share commits (group.go), and one whose row changed since its claim
// fails alone and is applied on the locked path, the others committed.
func TestClaimedOutcomesGrouped(t *testing.T) {
	ctx := context.Background()
	c := newClock(storeT0)
	a, b := twoNodes(t, c, time.Hour)
	const n = 24
	ids := make([]string, n)
	for i := range ids {
		ids[i] = enqueueOne(t, a, c.now())
	}
	got, err := a.Claim(ctx, c.now(), append([]string(nil), ids...))
	if err != nil || len(got) != n {
		t.Fatalf("Claim: %d of %d, %v", len(got), n, err)
	}
	changed := ids[n/2]
	if err := b.Update(ctx, changed, func(m *store.Message) error { m.DelayWarned = true; return nil }); err != nil {
		t.Fatal(err)
	}
	before := a.group.commits.Load()
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.Update(ctx, id, deliver); err != nil {
				t.Errorf("outcome of %s: %v", id, err)
			}
		}()
	}
	wg.Wait()
	for _, id := range ids {
		m, err := b.Get(ctx, id)
		if err != nil || m.Recipients[0].State != store.StateDelivered || (id == changed) != m.DelayWarned {
			t.Errorf("%s after the outcomes: %+v, %v", id, m, err)
		}
	}
	t.Logf("%d outcomes in %d commits", n, a.group.commits.Load()-before)
}
