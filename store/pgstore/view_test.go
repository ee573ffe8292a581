package pgstore

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/queue/shaping"
)

// The queue's shared shaper skips the read of an unlimited budget only
// through this interface: a change of signature would silently cost it.
var _ shaping.RecordlessLedger = (*Budgets)(nil)

// waitFor fails t unless cond holds within 10s; it polls.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond) // polling interval
	}
}

// viewReady waits until db's view is loaded and trusted.
func viewReady(t *testing.T, db *DB) {
	t.Helper()
	v := db.view()
	waitFor(t, db.opts.Node+"'s view loaded", func() bool {
		v.mu.Lock()
		defer v.mu.Unlock()
		return v.ready && len(v.pending) == 0
	})
}

func isDown(t *testing.T, b *Backoffs, domain string) bool {
	t.Helper()
	_, _, down, err := b.Down(t.Context(), domain, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return down
}

// TestViewSharesBackoffs: a back-off node a sets reaches node b's view
// (answered without a statement), node b's successful delivery clears it
// in the database, and node a's view sees it cleared.
func TestViewSharesBackoffs(t *testing.T) {
	url := pg.Get(t).NewDatabase(t)
	dbA := openTest(t, url, Options{Node: "a", ScratchDir: t.TempDir()})
	dbB := openTest(t, url, Options{Node: "b", ScratchDir: t.TempDir(), tracer: roundTrips{}})
	a, b := dbA.Backoffs(), dbB.Backoffs()
	viewReady(t, dbA)
	viewReady(t, dbB)
	ctx := t.Context()
	now := time.Now()
	if err := a.SetDown(ctx, "down.test", now.Add(10*time.Minute), "421 refused", now); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node b to see down.test down", func() bool { return isDown(t, b, "down.test") })
	viewReady(t, dbB)
	var n atomic.Int64
	until, reply, down, err := b.Down(count(ctx, &n), "down.test", now)
	if err != nil || !down || reply != "421 refused" || until.Sub(now) < 9*time.Minute || until.Sub(now) > 10*time.Minute {
		t.Fatalf("node b: Down = %v %q %v %v", until.Sub(now), reply, down, err)
	}
	if got, err := b.CountDown(count(ctx, &n), now); err != nil || got != 1 {
		t.Errorf("CountDown = %d, %v", got, err)
	}
	if n.Load() != 0 {
		t.Errorf("node b's Down and CountDown from its view took %d statements", n.Load())
	}
	if err := b.ClearDown(ctx, "down.test"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node a to see down.test cleared", func() bool { return !isDown(t, a, "down.test") })
	var left int64
	if err := dbA.pool.QueryRow(ctx, `SELECT count(*) FROM destinations_down`).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d rows left in destinations_down (%v), want the clear in the database", left, err)
	}
}

// TestViewCommonCaseCostsNoStatement: with no destination down and no
// record on an unlimited budget, Down, ClearDown and an unlimited
// budget's admission make no round trip (each took one before the view).
func TestViewCommonCaseCostsNoStatement(t *testing.T) {
	db := openTest(t, pg.Get(t).NewDatabase(t), Options{ScratchDir: t.TempDir(), tracer: roundTrips{}})
	b, l := db.Backoffs(), db.Budgets()
	s, err := shaping.NewShared(shaping.SharedOptions{Ledger: l})
	if err != nil {
		t.Fatal(err)
	}
	viewReady(t, db)
	var n atomic.Int64
	ctx := count(t.Context(), &n)
	d := shaping.Dest{Key: "plain.test"}
	for i := range 10 {
		now := time.Now()
		if _, _, down, err := b.Down(ctx, "plain.test", now); down || err != nil {
			t.Fatalf("Down: %v %v", down, err)
		}
		if dec := s.Admit(ctx, d, "m", 1, now); !dec.Go {
			t.Fatalf("message %d: %+v, want Go", i, dec)
		}
		s.Finish(ctx, d, nil, now)
		if err := b.ClearDown(ctx, "plain.test"); err != nil {
			t.Fatal(err)
		}
	}
	if n.Load() != 0 {
		t.Errorf("10 messages to an unlimited destination that is up took %d statements, want 0", n.Load())
	}
}

// TestViewSharesUnlimitedSlowDown: a slow-down reply node a records on
// a budget with no configured limit reaches node b, whose admissions
// then wait for the lowered rate's slots instead of going at once.
func TestViewSharesUnlimitedSlowDown(t *testing.T) {
	url := pg.Get(t).NewDatabase(t)
	dbA := openTest(t, url, Options{Node: "a", ScratchDir: t.TempDir()})
	dbB := openTest(t, url, Options{Node: "b", ScratchDir: t.TempDir()})
	a, err := shaping.NewShared(shaping.SharedOptions{Ledger: dbA.Budgets()})
	if err != nil {
		t.Fatal(err)
	}
	lb := dbB.Budgets()
	b, err := shaping.NewShared(shaping.SharedOptions{Ledger: lb})
	if err != nil {
		t.Fatal(err)
	}
	viewReady(t, dbA)
	viewReady(t, dbB)
	ctx := t.Context()
	d := shaping.Dest{Key: "plain.test"}
	for range 5 {
		if dec := a.Admit(ctx, d, "m", 1, time.Now()); !dec.Go {
			t.Fatalf("before the slow-down: %+v", dec)
		}
		a.Finish(ctx, d, nil, time.Now())
	}
	if dec := a.Admit(ctx, d, "x", 1, time.Now()); !dec.Go {
		t.Fatalf("x: %+v", dec)
	}
	a.Finish(ctx, d, []shaping.Reply{{Code: 421, Text: "try again in 10 minutes"}}, time.Now())
	waitFor(t, "node b's view to see the record", func() bool { return !lb.Recordless("plain.test") })
	if dec := b.Admit(ctx, d, "y", 1, time.Now()); dec.Go || dec.Wait.Kind != shaping.WaitSuspended {
		t.Errorf("y on node b after node a's suspension: %+v, want suspended", dec)
	}
}

// TestViewReloadsAfterLostListener: once node b's listening connection
// is terminated, a back-off node a sets meanwhile (its notification
// lost to b) is still seen by b: b's view is untrusted until it listens
// again and reloads, and then answers from memory again.
func TestViewReloadsAfterLostListener(t *testing.T) {
	url := pg.Get(t).NewDatabase(t)
	dbA := openTest(t, url, Options{Node: "a", ScratchDir: t.TempDir()})
	dbB := openTest(t, url, Options{Node: "b", ScratchDir: t.TempDir(), tracer: roundTrips{}})
	a, b := dbA.Backoffs(), dbB.Backoffs()
	viewReady(t, dbA)
	viewReady(t, dbB)
	ctx := t.Context()
	var killed int
	err := dbA.pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'outbox b' AND query = 'LISTEN `+viewChannel+`'`).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminated %d listeners of node b (%v), want 1", killed, err)
	}
	now := time.Now()
	if err := a.SetDown(ctx, "down.test", now.Add(10*time.Minute), "421 refused", now); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node b to see down.test down", func() bool { return isDown(t, b, "down.test") })
	viewReady(t, dbB)
	var n atomic.Int64
	if !isDown(t, b, "down.test") {
		t.Fatal("node b's reloaded view lost down.test")
	}
	if _, _, _, err := b.Down(count(ctx, &n), "down.test", now); err != nil || n.Load() != 0 {
		t.Errorf("node b's reloaded view: %d statements (%v), want 0", n.Load(), err)
	}
}
