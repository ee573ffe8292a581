package queue

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/queue/shaping"
	"github.com/outbox-mta/outbox/store"
	"github.com/outbox-mta/outbox/store/pgstore"
)

// sharedNode is one Outbox node of a test on one PostgreSQL database:
// its spool, its shaper and down list in that database, and its queue.
type sharedNode struct {
	db *pgstore.DB
	sh *shaping.Shared
	q  *Queue
}

// sharedNodes opens n nodes on a new database, their queues not running.
func sharedNodes(t *testing.T, n int, rules []shaping.Rule, del Deliverer) []*sharedNode {
	t.Helper()
	url := pg.Get(t).NewDatabase(t)
	quiet := slog.New(slog.DiscardHandler)
	var nodes []*sharedNode
	for i := range n {
		db, err := pgstore.Open(t.Context(), url, pgstore.Options{Node: "n" + string(rune('1'+i)), Logger: quiet, ScratchDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		sh, err := shaping.NewShared(shaping.SharedOptions{Options: shaping.Options{Rules: rules, Logger: quiet},
			Ledger: db.Budgets(), Recheck: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		opts := testOptions()
		opts.Shaper, opts.DownList = sh, db.Backoffs()
		q, err := New(db, del, opts)
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, &sharedNode{db: db, sh: sh, q: q})
	}
	return nodes
}

// run runs the nodes' queues until the test ends.
func runNodes(t *testing.T, nodes []*sharedNode) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() { n.q.Run(ctx) })
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// enqueueTo spools n messages of one recipient at domain through db.
func enqueueTo(t *testing.T, db *pgstore.DB, domain string, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		b, _ := db.NewBody()
		b.Write([]byte("Subject: x\r\n\r\nx\r\n"))
		m := &store.Message{From: "a@here.test", Recipients: []store.Recipient{{Addr: "r" + string(rune('a'+i%26)) + "@" + domain}}}
		if err := db.Enqueue(t.Context(), m, b); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	return ids
}

// delivered waits until no message of db is queued or deferred.
func waitDelivered(t *testing.T, db *pgstore.DB) {
	t.Helper()
	waitFor(t, "every message delivered", func() bool {
		s, err := db.Stats(context.Background())
		return err == nil && s.Pending == 0
	})
}

// TestSharedRateLimitAcrossNodes: two nodes sending to one destination
// limited to 600 messages a minute (one per 100 ms) with a burst of 4
// start them, together, no faster than that: 4 at once, then one every
// 100 ms. With a budget per node each would start 4 at once.
func TestSharedRateLimitAcrossNodes(t *testing.T) {
	const interval, burst = 100 * time.Millisecond, 4
	var mu sync.Mutex
	var starts []time.Time
	del := &fakeDeliverer{}
	del.set(func(_ context.Context, env *delivery.Envelope) *delivery.Result {
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		return result(env, delivery.Delivered, ok250)
	})
	rules := []shaping.Rule{{Name: "r", Domains: []string{"rate.test"}, Limits: shaping.Limits{PerMinute: 600, Burst: burst}}}
	nodes := sharedNodes(t, 2, rules, del)
	enqueueTo(t, nodes[0].db, "rate.test", 14)
	runNodes(t, nodes)
	waitDelivered(t, nodes[1].db)
	mu.Lock()
	defer mu.Unlock()
	slices.SortFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
	// The i-th start is at the earliest in the i-th slot after the
	// first (less the burst): a start may be late (a busy machine),
	// never early. The first start is its slot's time plus the dispatch
	// of one message.
	for i := range starts {
		if got, want := starts[i].Sub(starts[0]), time.Duration(i-burst+1)*interval-50*time.Millisecond; got < want {
			t.Fatalf("start %d at +%v, before its slot at +%v: the nodes exceeded the shared rate", i, got, want)
		}
	}
	if len(starts) != 14 {
		t.Errorf("%d deliveries, want 14", len(starts))
	}
}

// TestSharedConnectionLimitAcrossNodes: two nodes delivering to one
// destination allowed two connections hold at most two between them.
func TestSharedConnectionLimitAcrossNodes(t *testing.T) {
	del := &fakeDeliverer{}
	var mu sync.Mutex
	perNode := map[string]int{}
	del.set(func(_ context.Context, env *delivery.Envelope) *delivery.Result {
		time.Sleep(40 * time.Millisecond) // a remote server's time; the overlap is the point
		mu.Lock()
		perNode[env.MsgID]++
		mu.Unlock()
		return result(env, delivery.Delivered, ok250)
	})
	rules := []shaping.Rule{{Name: "c", Domains: []string{"conn.test"}, Limits: shaping.Limits{Connections: 2}}}
	nodes := sharedNodes(t, 2, rules, del)
	ids := enqueueTo(t, nodes[0].db, "conn.test", 16)
	runNodes(t, nodes)
	waitDelivered(t, nodes[1].db)
	del.mu.Lock()
	maxInUse := del.maxInUse
	del.mu.Unlock()
	if maxInUse > 2 {
		t.Errorf("%d deliveries at once across the nodes, want at most the shared limit 2", maxInUse)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if perNode[id] != 1 {
			t.Errorf("%s delivered %d times", id, perNode[id])
		}
	}
}

// TestSharedDownDestination: a destination node A found down is not
// attempted by node B until the back-off ends, and B's explanation says
// why; a delivery that gets through clears a back-off for every node.
func TestSharedDownDestination(t *testing.T) {
	del := &fakeDeliverer{}
	var mu sync.Mutex
	var attempts []time.Time
	del.set(func(_ context.Context, env *delivery.Envelope) *delivery.Result {
		mu.Lock()
		attempts = append(attempts, time.Now())
		mu.Unlock()
		return result(env, delivery.Delivered, ok250)
	})
	nodes := sharedNodes(t, 2, nil, del)
	a, b := nodes[0], nodes[1]
	const backoff = 1500 * time.Millisecond
	set := time.Now()
	if err := a.db.Backoffs().SetDown(t.Context(), "down.test", set.Add(backoff), "dial tcp: connection refused", set); err != nil {
		t.Fatal(err)
	}
	ids := enqueueTo(t, b.db, "down.test", 1)
	runNodes(t, nodes[1:]) // node B alone
	waitFor(t, "the message deferred by the shared back-off", func() bool {
		m, err := b.db.Get(context.Background(), ids[0])
		return err == nil && m.Recipients[0].State == store.StateDeferred
	})
	es, err := b.q.Ops().Explain(t.Context(), ids[0])
	if err != nil || len(es) != 1 || es[0].Reason != WaitDestinationDown || !es[0].Shared ||
		!strings.Contains(es[0].Sentence, "connection refused") || !strings.Contains(es[0].Sentence, "by any node") {
		t.Errorf("node B explains %+v, %v; want destination-down with node A's error", es, err)
	}
	waitDelivered(t, b.db)
	mu.Lock()
	first := attempts[0]
	mu.Unlock()
	if early := set.Add(backoff).Sub(first); early > 50*time.Millisecond {
		t.Errorf("node B attempted %v before node A's back-off ended", early)
	}

	// A back-off set while a delivery that then gets through runs is
	// cleared by it, for node A too.
	del.set(func(_ context.Context, env *delivery.Envelope) *delivery.Result {
		now := time.Now()
		a.db.Backoffs().SetDown(context.Background(), "flaky.test", now.Add(time.Hour), "timeout", now)
		return result(env, delivery.Delivered, ok250)
	})
	enqueueTo(t, b.db, "flaky.test", 1)
	b.q.Wake() // as the listener's Spooled would
	waitFor(t, "flaky.test's back-off cleared by the delivery that got through", func() bool {
		_, _, down, err := a.db.Backoffs().Down(context.Background(), "flaky.test", time.Now())
		return err == nil && !down
	})
}

// TestSharedThrottleReplyAppliesToEveryNode: a slow-down reply one node
// gets slows the destination for the other, and a suspension one node
// gets holds the other's messages, explained as shared.
func TestSharedThrottleReplyAppliesToEveryNode(t *testing.T) {
	rules := []shaping.Rule{{Name: "y", Domains: []string{"y.test"}, Limits: shaping.Limits{PerMinute: 600}}}
	nodes := sharedNodes(t, 2, rules, &fakeDeliverer{})
	a, b := nodes[0].sh, nodes[1].sh
	ctx := t.Context()
	d := a.Resolve(ctx, "y.test")
	now := time.Now()
	if dec := a.Admit(ctx, d, "m1", 1, now); !dec.Go {
		t.Fatalf("node A: %+v, want Go", dec)
	}
	a.Finish(ctx, d, []shaping.Reply{{Code: 421, Enhanced: "4.7.28", Text: "rate limited"}}, now)
	st := b.Statuses(ctx, time.Now())
	if len(st) != 1 || st[0].State != "throttled" || st[0].PerMinute != 300 {
		t.Fatalf("node B's statuses after node A's 421 4.7.28: %+v, want y throttled to 300/min", st)
	}
	a.Finish(ctx, d, []shaping.Reply{{Code: 421, Text: "4.7.0 [TSS04] try again in 5 minutes"}}, now)
	later := time.Now().Add(time.Hour) // node B's clock is an hour ahead
	dec := b.Admit(ctx, d, "m2", 1, later)
	if dec.Go || dec.Wait.Kind != shaping.WaitSuspended || !dec.Wait.Shared {
		t.Fatalf("node B: %+v, want suspended by node A's reply", dec)
	}
	if left := dec.Until.Sub(later); left > 5*time.Minute || left < 4*time.Minute {
		t.Errorf("node B waits %v, want the 5 minutes the reply named, in its own clock", left)
	}
	if w, ok := b.Reserved(ctx, "m2", "y", later); !ok || !strings.Contains(w.Sentence(), "shared by every node") {
		t.Errorf("node B's explanation: %q %v", w.Sentence(), ok)
	}
}
