package pgstore

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outbox-mta/outbox/store"
)

// TestEventsAcrossNodes: one sequence for every node, and a follower on
// one node is woken by another node's event (NOTIFY), with no poll.
func TestEventsAcrossNodes(t *testing.T) {
	ctx := context.Background()
	c := newClock(storeT0)
	a, b := twoNodes(t, c, time.Hour)
	wait := a.EventsAfter(0)
	select {
	case <-wait:
		t.Fatal("woken with no event")
	default:
	}
	enqueueOne(t, b, c.now())
	select {
	case <-wait:
	case <-time.After(10 * time.Second):
		t.Fatal("node a not woken by node b's event")
	}
	if a.LastEventSeq() != 1 {
		t.Fatalf("node a's LastEventSeq = %d, want 1", a.LastEventSeq())
	}
	for i := range 3 {
		enqueueOne(t, []*DB{a, b}[i%2], c.now())
	}
	evs, err := b.Events(ctx, 0, 0)
	if err != nil || len(evs) != 4 {
		t.Fatalf("Events = %d, %v; want 4", len(evs), err)
	}
	for i, e := range evs {
		if e.Seq != uint64(i+1) || e.Type != store.EventAccepted {
			t.Fatalf("event %d: %+v", i, e)
		}
	}
}

// TestEventsLeftUnnumbered: the events of a node that died between its
// commit and the numbering are numbered by another node's next Events.
func TestEventsLeftUnnumbered(t *testing.T) {
	ctx := context.Background()
	c := newClock(storeT0)
	a, b := twoNodes(t, c, time.Hour)
	id := enqueueOne(t, a, c.now())
	m, err := a.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	// Node a's delivery commits and dies before numberEvents.
	after := *m
	after.Recipients = []store.Recipient{m.Recipients[0]}
	deliver(&after)
	err = pgx.BeginFunc(ctx, a.pool, func(tx pgx.Tx) error {
		_, err := a.insertEvents(ctx, tx, m, &after)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := b.Events(ctx, 1, 0)
	if err != nil || len(evs) != 1 || evs[0].Seq != 2 || evs[0].Type != store.EventDelivered {
		t.Fatalf("Events after the dead node's commit = %+v, %v", evs, err)
	}
}
