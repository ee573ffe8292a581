package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// TestBulkOnRealStore: a selection larger than one List page, by domain,
// sender and age; a dry run changes nothing; hold, release, flush and
// delete act on exactly the selection.
func TestBulkOnRealStore(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(t.TempDir(), store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	clock := newFakeClock()
	opts := testOptions()
	opts.Clock = clock
	q, err := New(db, &fakeDeliverer{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	// 1100 messages to a.test (over one List page of MaxListLimit), 50 to
	// b.test, enqueued concurrently so the store commits them in groups.
	const nA, nB = store.MaxListLimit + 100, 50
	var wg sync.WaitGroup
	errs := make(chan error, nA+nB)
	for i := range nA + nB {
		domain, from := "a.test", "app@here.test"
		if i >= nA {
			domain, from = "b.test", "other@here.test"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := &store.Message{From: from, Recipients: []store.Recipient{{Addr: fmt.Sprintf("r%d@%s", i, domain)}}}
			errs <- submit(db, q, m, "Subject: bulk\r\n\r\nx\r\n")
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	ops := q.Ops()
	count := func(f store.Filter) int {
		t.Helper()
		n, err := ops.Bulk(ctx, BulkHold, nil, f, true)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(store.Filter{Domain: "A.TEST."}); n != nA {
		t.Errorf("dry run by domain: %d, want %d", n, nA)
	}
	if n := count(store.Filter{Sender: "other@here.test"}); n != nB {
		t.Errorf("dry run by sender: %d, want %d", n, nB)
	}
	if n := count(store.Filter{ReceivedBefore: clock.Now().Add(-time.Minute)}); n != 0 {
		t.Errorf("dry run older than a minute: %d, want 0", n)
	}
	if n := count(store.Filter{State: store.StateHeld}); n != 0 {
		t.Errorf("a dry run held %d messages", n)
	}

	if n, err := ops.Bulk(ctx, BulkHold, nil, store.Filter{Domain: "a.test"}, false); err != nil || n != nA {
		t.Fatalf("hold a.test: %d, %v; want %d", n, err, nA)
	}
	if n := count(store.Filter{State: store.StateHeld}); n != nA {
		t.Errorf("held after hold: %d, want %d", n, nA)
	}
	held, _ := db.List(ctx, store.Filter{State: store.StateHeld, Limit: 2})
	ids := []string{held[0].ID, held[1].ID, "no-such-id"}
	if n, err := ops.Bulk(ctx, BulkRelease, ids, store.Filter{}, false); err != nil || n != 2 {
		t.Fatalf("release 2 IDs and an unknown one: %d, %v; want 2", n, err)
	}
	if n := count(store.Filter{State: store.StateHeld}); n != nA-2 {
		t.Errorf("held after release of 2: %d, want %d", n, nA-2)
	}
	if n, err := ops.Bulk(ctx, BulkDelete, nil, store.Filter{State: store.StateHeld}, false); err != nil || n != nA-2 {
		t.Fatalf("delete held: %d, %v; want %d", n, err, nA-2)
	}
	left, err := db.List(ctx, store.Filter{Limit: store.MaxListLimit})
	if err != nil || len(left) != nB+2 {
		t.Fatalf("after delete: %d messages, %v; want %d", len(left), err, nB+2)
	}
	if _, err := ops.Bulk(ctx, "shred", nil, store.Filter{}, false); err == nil {
		t.Error("an unknown operation was accepted")
	}
}

// TestRequeueDropsBackoff: a requeue lifts every destination's back-off,
// whatever the selection, and makes the pending recipients due now.
func TestRequeueDropsBackoff(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(t.TempDir(), store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	clock := newFakeClock()
	opts := testOptions()
	opts.Clock = clock
	q, err := New(db, &fakeDeliverer{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	m := &store.Message{From: "app@here.test", Recipients: []store.Recipient{{Addr: "r@a.test"}}}
	if err := submit(db, q, m, "x\r\n"); err != nil {
		t.Fatal(err)
	}
	later := clock.Now().Add(time.Hour)
	if err := db.Update(ctx, m.ID, func(m *store.Message) error {
		m.Recipients[0].State, m.Recipients[0].NextAttempt = store.StateDeferred, later
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	q.dest.set(t.Context(), "a.test", later, "451 down", clock.Now())
	q.dest.set(t.Context(), "b.test", later, "451 down", clock.Now())
	if n, err := q.Ops().Bulk(ctx, BulkRequeue, []string{m.ID}, store.Filter{}, false); err != nil || n != 1 {
		t.Fatalf("requeue: %d, %v", n, err)
	}
	got, _ := db.Get(ctx, m.ID)
	if na := got.Recipients[0].NextAttempt; na.After(clock.Now()) {
		t.Errorf("next attempt %v after requeue, want now (%v)", na, clock.Now())
	}
	for _, d := range []string{"a.test", "b.test"} {
		if _, down := q.dest.down(t.Context(), d, clock.Now()); down {
			t.Errorf("%s still backed off after requeue", d)
		}
	}
}

// TestOpenMessage: the stored message is the prefix then the body.
func TestOpenMessage(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(t.TempDir(), store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q, err := New(db, &fakeDeliverer{}, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	m := &store.Message{From: "app@here.test", Prefix: []byte("Received: by outbox.test\r\n"),
		Recipients: []store.Recipient{{Addr: "r@a.test"}}}
	if err := submit(db, q, m, "Subject: s\r\n\r\nbody\r\n"); err != nil {
		t.Fatal(err)
	}
	rc, size, err := q.Ops().OpenMessage(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	want := "Received: by outbox.test\r\nSubject: s\r\n\r\nbody\r\n"
	if err != nil || string(got) != want || size != int64(len(want)) {
		t.Errorf("got %q (size %d), %v; want %q (%d)", got, size, err, want, len(want))
	}
	if _, _, err := q.Ops().OpenMessage(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown ID: %v, want ErrNotFound", err)
	}
}
