package queue

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"

	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/store"
	"github.com/outbox-mta/outbox/store/pgstore"
	"github.com/outbox-mta/outbox/store/pgstore/pgtest"
)

// pg is this test binary's PostgreSQL server, started at first use.
var pg pgtest.Lazy

func TestMain(m *testing.M) {
	code := m.Run()
	pg.Stop()
	os.Exit(code)
}

// TestTwoNodesOnePostgres: two queues, each over its own pgstore.DB on one
// database (two nodes), share the due messages: each is delivered once,
// because the dispatcher claims what it starts (Claimer).
func TestTwoNodesOnePostgres(t *testing.T) {
	url := pg.Get(t).NewDatabase(t)
	quiet := slog.New(slog.DiscardHandler)
	var dbs []*pgstore.DB
	for _, node := range []string{"n1", "n2"} {
		db, err := pgstore.Open(context.Background(), url, pgstore.Options{Node: node, Logger: quiet, ScratchDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
	}
	var mu sync.Mutex
	count := map[string]int{}
	del := &fakeDeliverer{}
	del.set(func(_ context.Context, env *delivery.Envelope) *delivery.Result {
		mu.Lock()
		count[env.MsgID]++
		mu.Unlock()
		return result(env, delivery.Delivered, ok250)
	})
	const n = 40
	var ids []string
	for range n {
		b, _ := dbs[0].NewBody()
		b.Write([]byte("Subject: x\r\n\r\nx\r\n"))
		m := &store.Message{From: "a@here.test", Recipients: []store.Recipient{{Addr: "r@x.test"}}}
		if err := dbs[0].Enqueue(context.Background(), m, b); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, db := range dbs {
		q, err := New(db, del, testOptions())
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); q.Run(ctx) }()
	}
	defer func() { cancel(); wg.Wait() }()
	waitFor(t, "every message delivered", func() bool {
		ms, err := dbs[1].List(context.Background(), store.Filter{State: store.StateQueued})
		return err == nil && len(ms) == 0
	})
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if count[id] != 1 {
			t.Errorf("%s delivered %d times, want once", id, count[id])
		}
	}
}
