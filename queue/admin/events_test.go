package admin_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/queue/admin"
	"github.com/outbox-mta/outbox/queue/admin/admintest"
	"github.com/outbox-mta/outbox/store"
)

// TestEventsOp: the "events" operation pages through the log, waits for
// a new event without polling, and refuses bad parameters.
func TestEventsOp(t *testing.T) {
	db, err := store.Open(t.TempDir(), store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	add := func() {
		b, _ := db.NewBody()
		io.WriteString(b, "x\r\n")
		if err := db.Enqueue(context.Background(), &store.Message{From: "a@x", Recipients: []store.Recipient{{Addr: "b@y"}, {Addr: "c@y"}}}, b); err != nil {
			t.Fatal(err)
		}
	}
	add()
	c := admin.NewClient(admintest.ServeWith(t, admin.Options{Queue: admintest.NewQueue(t), Events: db}))
	defer c.Close()
	ctx := context.Background()
	evs, next, err := c.Events(ctx, 0, 1, 0)
	if err != nil || len(evs) != 1 || evs[0].Seq != 1 || next != 1 {
		t.Fatalf("page 1: %+v next %d, %v", evs, next, err)
	}
	if evs, next, err = c.Events(ctx, next, 0, 0); err != nil || len(evs) != 1 || next != 2 {
		t.Fatalf("page 2: %+v next %d, %v", evs, next, err)
	}
	got := make(chan []store.Event, 1)
	go func() {
		evs, _, err := c.Events(ctx, 2, 0, 30*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- evs
	}()
	add()
	select {
	case evs := <-got:
		if len(evs) != 2 || evs[0].Seq != 3 {
			t.Errorf("long poll: %+v", evs)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the long poll did not answer after the event")
	}
	var re *admin.RemoteError
	if _, _, err := c.Events(ctx, 0, 0, 2*admin.MaxEventsWait); !errors.As(err, &re) || re.StatusCode != 400 {
		t.Errorf("wait over the bound: %v", err)
	}
	if _, _, err := c.Events(ctx, 0, store.MaxEventsPage+1, 0); !errors.As(err, &re) || re.StatusCode != 400 {
		t.Errorf("limit over the bound: %v", err)
	}
	none := admin.NewClient(admintest.Serve(t, admintest.NewQueue(t)))
	defer none.Close()
	if _, _, err := none.Events(ctx, 0, 0, 0); !errors.As(err, &re) || re.StatusCode != 404 {
		t.Errorf("without an event log: %v", err)
	}
}
