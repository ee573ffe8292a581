package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// recountStats counts the spool the slow way, from every record (List),
// the bounce log and the quarantine: what Stats must equal.
func recountStats(t *testing.T, db *DB) Stats {
	t.Helper()
	ctx := context.Background()
	var s Stats
	f := Filter{Done: true, Limit: MaxListLimit}
	for {
		page, err := db.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page {
			s.Add(m)
		}
		if len(page) < f.Limit {
			break
		}
		f.After = page[len(page)-1].ID
	}
	bs, err := db.Bounces(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	qs, err := db.Quarantined(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.Bounces, s.Quarantined = len(bs), len(qs)
	return s
}

// checkStats fails unless db.Stats equals a full recount.
func checkStats(t *testing.T, db *DB, when string) Stats {
	t.Helper()
	got, err := db.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := recountStats(t, db)
	got.FileSize, got.FreeBytes = 0, 0
	for _, s := range []*Stats{&got, &want} {
		for st, n := range s.Recipients {
			if n == 0 {
				delete(s.Recipients, st)
			}
		}
		if len(s.Recipients) == 0 {
			s.Recipients = nil
		}
		if len(s.Domains) == 0 {
			s.Domains = nil
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: Stats\n %+v\nfull recount\n %+v", when, got, want)
	}
	return got
}

// statsWorld drives random operations on a spool.
type statsWorld struct {
	t   *testing.T
	db  *DB
	rng *rand.Rand
	now time.Time
	ids []string
}

var statsAddrs = []string{"a@x.example", "b@X.Example", "c@x.example.", "d@y.example", "e@Y.EXAMPLE.", `"q@r"@z.example`, "nodomain"}

func (w *statsWorld) state() State {
	return []State{StateQueued, StateDeferred, StateHeld, StateDelivered, StateBounced}[w.rng.IntN(5)]
}

func (w *statsWorld) enqueue() {
	m := &Message{From: "s@src.example", Received: w.now.Add(-time.Duration(w.rng.IntN(100)) * time.Hour)}
	for range 1 + w.rng.IntN(4) {
		m.Recipients = append(m.Recipients, Recipient{Addr: statsAddrs[w.rng.IntN(len(statsAddrs))], State: w.state(),
			NextAttempt: w.now.Add(time.Duration(w.rng.IntN(10)) * time.Minute)})
	}
	w.ids = append(w.ids, enqueue(w.t, w.db, m, pattern(50+w.rng.IntN(200), 1)))
}

func (w *statsWorld) pick() string { return w.ids[w.rng.IntN(len(w.ids))] }

// step makes one random change; errors of operations on removed or
// quarantined messages are expected.
func (w *statsWorld) step() string {
	ctx := context.Background()
	if len(w.ids) == 0 {
		w.enqueue()
		return "enqueue"
	}
	switch op := w.rng.IntN(10); {
	case op < 3:
		w.enqueue()
		return "enqueue"
	case op < 7:
		err := w.db.Update(ctx, w.pick(), func(m *Message) error {
			r := &m.Recipients[w.rng.IntN(len(m.Recipients))]
			r.State = w.state()
			r.History = append(r.History, Attempt{Time: w.now, Code: 550, Result: r.State})
			if w.rng.IntN(4) == 0 {
				m.Received = m.Received.Add(-time.Hour) // moves its arrival entry
			}
			return nil
		})
		w.expect(err, "update")
		return "update"
	case op == 7:
		w.expect(w.db.Delete(ctx, w.pick()), "delete")
		return "delete"
	case op == 8:
		id := w.pick()
		w.db.quarantineBody(ctx, id, filepath.Join(w.db.bodyDir, id), errors.New("test: unreadable"))
		return "quarantine"
	default:
		w.now = w.now.Add(time.Hour)
		if _, _, err := w.db.Prune(ctx, w.now.Add(-24*time.Hour)); err != nil {
			w.t.Fatal(err)
		}
		return "prune"
	}
}

func (w *statsWorld) expect(err error, op string) {
	if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrCorrupt) {
		w.t.Fatalf("%s: %v", op, err)
	}
}

// The counts Stats keeps as each write commits equal a full recount after
// any sequence of enqueues, updates (recipient states, reception times,
// bounces), deletes, quarantines and prunes; and again after a restart,
// which recounts them at Open.
func TestStatsEqualsRecount(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			dir := t.TempDir()
			w := &statsWorld{t: t, rng: rand.New(rand.NewPCG(seed, 13)), now: t0}
			w.db = openTest(t, dir, Options{InlineMax: 120, Now: func() time.Time { return w.now }})
			for i := range 300 {
				op := w.step()
				if i%10 == 0 {
					checkStats(t, w.db, fmt.Sprintf("after op %d (%s)", i, op))
				}
			}
			before := checkStats(t, w.db, "at the end")
			if before.Messages == 0 || before.Pending == 0 || before.Bounces == 0 || before.Quarantined == 0 || len(before.Domains) < 3 {
				t.Fatalf("the random run did not reach every count: %+v", before)
			}
			w.db.Close()
			w.db = openTest(t, dir, Options{Now: func() time.Time { return w.now }})
			if after := checkStats(t, w.db, "after reopening"); !reflect.DeepEqual(after, before) {
				t.Errorf("after reopening %+v, before %+v", after, before)
			}
		})
	}
}

// Pending leaves out a message whose only unfinished recipients are held
// (it waits for an operator), and so does the oldest; their recipients
// are counted by state and domain, the domain as Domain spells it.
func TestStatsHeldAndDomains(t *testing.T) {
	db := openTest(t, "", Options{})
	held := rcpts("h@Held.Example.")
	held[0].State = StateHeld
	enqueue(t, db, &Message{Recipients: held, Received: t0.Add(-10 * time.Hour)}, []byte("x"))
	newer := enqueue(t, db, &Message{Recipients: rcpts("a@held.example", "b@other.example"), Received: t0.Add(-time.Hour)}, []byte("x"))
	s := checkStats(t, db, "")
	if s.Messages != 2 || s.Pending != 1 || s.OldestPendingID != newer || !s.OldestPending.Equal(t0.Add(-time.Hour)) {
		t.Errorf("Stats %+v", s)
	}
	want := map[string]DomainCount{"held.example": {Queued: 1, Held: 1}, "other.example": {Queued: 1}}
	if !reflect.DeepEqual(s.Domains, want) {
		t.Errorf("Domains %+v, want %+v", s.Domains, want)
	}
}

// A spool written before the arrival index existed gets it at Open.
func TestArrivalIndexBuiltAtOpen(t *testing.T) {
	dir := t.TempDir()
	db := openTest(t, dir, Options{})
	old := enqueue(t, db, &Message{Recipients: rcpts("a@b"), Received: t0.Add(-5 * time.Hour)}, []byte("x"))
	enqueue(t, db, &Message{Recipients: rcpts("c@d"), Received: t0.Add(-time.Hour)}, []byte("x"))
	db.Close()
	bdb, err := bolt.Open(filepath.Join(dir, "spool.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := bdb.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte(bucketArrival)) }); err != nil {
		t.Fatal(err)
	}
	bdb.Close()
	db = openTest(t, dir, Options{})
	if s := checkStats(t, db, "after Open"); s.OldestPendingID != old {
		t.Errorf("oldest %s, want %s", s.OldestPendingID, old)
	}
	db.Close()
	rep, err := Check(dir, 0)
	if err != nil || !rep.Clean() {
		t.Errorf("Check after the index was built: %+v, %v", rep, err)
	}
}
