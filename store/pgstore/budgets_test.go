package pgstore

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"
)

// counter is a record fn that counts its calls in the record.
func counter(t *testing.T) func(rec, _ []byte, _ time.Time, _ int) ([]byte, []byte, bool, error) {
	return func(rec, _ []byte, _ time.Time, _ int) ([]byte, []byte, bool, error) {
		n := 0
		if len(rec) > 0 {
			var err error
			if n, err = strconv.Atoi(string(rec)); err != nil {
				t.Errorf("record %q", rec)
			}
		}
		return []byte(strconv.Itoa(n + 1)), nil, false, nil
	}
}

// TestBudgetsUpdateSerialisesNodes: Updates of one budget from two nodes
// at once never lose one another's write (the row lock), so N admissions
// take N slots.
func TestBudgetsUpdateSerialisesNodes(t *testing.T) {
	url := pg.Get(t).NewDatabase(t)
	a := openTest(t, url, Options{Node: "a", ScratchDir: t.TempDir()}).Budgets()
	b := openTest(t, url, Options{Node: "b", ScratchDir: t.TempDir()}).Budgets()
	ctx := t.Context()
	const per = 50
	var wg sync.WaitGroup
	for _, l := range []*Budgets{a, b, a, b} {
		wg.Go(func() {
			for range per {
				if _, err := l.Update(ctx, "gmail", "", counter(t)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	rec, _, _, _, err := b.Get(ctx, "gmail", "")
	if err != nil {
		t.Fatal(err)
	}
	if string(rec) != strconv.Itoa(4*per) {
		t.Errorf("record after %d updates from two nodes = %q", 4*per, rec)
	}
}

// TestBudgetsConnectionSlots: a slot one node takes counts for every
// node until it is released.
func TestBudgetsConnectionSlots(t *testing.T) {
	url := pg.Get(t).NewDatabase(t)
	a := openTest(t, url, Options{Node: "a", ScratchDir: t.TempDir()}).Budgets()
	b := openTest(t, url, Options{Node: "b", ScratchDir: t.TempDir()}).Budgets()
	ctx := t.Context()
	take := func(_, _ []byte, _ time.Time, _ int) ([]byte, []byte, bool, error) { return nil, nil, true, nil }
	s1, err := a.Update(ctx, "yahoo", "", take)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Update(ctx, "yahoo", "", take); err != nil {
		t.Fatal(err)
	}
	var seen int
	if _, err := b.Update(ctx, "yahoo", "", func(_, _ []byte, _ time.Time, conns int) ([]byte, []byte, bool, error) {
		seen = conns
		return nil, nil, false, nil
	}); err != nil {
		t.Fatal(err)
	}
	if seen != 2 {
		t.Errorf("node b sees %d connections, want node a's 2", seen)
	}
	if err := a.Release(ctx, s1); err != nil {
		t.Fatal(err)
	}
	if _, _, _, n, _ := b.Get(ctx, "yahoo", ""); n != 1 {
		t.Errorf("after a release node b sees %d connections, want 1", n)
	}
	var keys []string
	if err := b.List(ctx, func(_ time.Time, key string, _ []byte, conns, _ int) {
		keys = append(keys, key+":"+strconv.Itoa(conns))
	}); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != "yahoo:1" {
		t.Errorf("List = %v, want [yahoo:1]", keys)
	}
}

// TestBudgetsDeadNodesSlotsExpire: the slots of a node that stops (its
// renewals stop, as a kill -9 stops them) count until their lease ends
// and no longer; a live node's slots outlast their lease by renewal.
func TestBudgetsDeadNodesSlotsExpire(t *testing.T) {
	url := pg.Get(t).NewDatabase(t)
	const lease = 900 * time.Millisecond
	deadDB := openTest(t, url, Options{Node: "dead", Lease: lease, ScratchDir: t.TempDir()})
	dead := deadDB.Budgets()
	live := openTest(t, url, Options{Node: "live", Lease: lease, ScratchDir: t.TempDir()}).Budgets()
	ctx := t.Context()
	take := func(_, _ []byte, _ time.Time, _ int) ([]byte, []byte, bool, error) { return nil, nil, true, nil }
	if _, err := dead.Update(ctx, "k", "", take); err != nil {
		t.Fatal(err)
	}
	if _, err := live.Update(ctx, "k", "", take); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	deadDB.Close() // no release, no more renewals
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, _, n, err := live.Get(ctx, "k", "")
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if n != 2 || time.Now().After(deadline) {
			t.Fatalf("%d connections %v after the node died, want 2 until its lease ends, then 1", n, time.Since(start))
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronization
	}
	if el := time.Since(start); el < lease/2 {
		t.Errorf("the dead node's slot was reclaimed after %v, before its lease (%v) could end", el, lease)
	}
	// The live node's slot was renewed past its first expiry: it still
	// counts 2 leases after it was taken.
	for time.Since(start) < 2*lease {
		time.Sleep(50 * time.Millisecond) // letting leases run out is the point
	}
	if _, _, _, n, _ := live.Get(ctx, "k", ""); n != 1 {
		t.Errorf("the live node's renewed slot: %d connections, want 1", n)
	}
}

// TestBackoffsSharedAcrossNodes: a back-off one node sets is seen by the
// other until it ends, in the database's clock (the other node's clock
// is an hour off), a later back-off is kept, and a clear clears it for
// all, each within a notification's latency (view.go).
func TestBackoffsSharedAcrossNodes(t *testing.T) {
	url := pg.Get(t).NewDatabase(t)
	a := openTest(t, url, Options{Node: "a", ScratchDir: t.TempDir()}).Backoffs()
	b := openTest(t, url, Options{Node: "b", ScratchDir: t.TempDir()}).Backoffs()
	ctx := t.Context()
	now := time.Now()
	if err := a.SetDown(ctx, "down.test", now.Add(10*time.Minute), "421 refused", now); err != nil {
		t.Fatal(err)
	}
	if err := a.SetDown(ctx, "down.test", now.Add(time.Minute), "shorter", now); err != nil {
		t.Fatal(err)
	}
	skewed := now.Add(time.Hour) // node b's clock
	waitFor(t, "node b to see down.test down", func() bool {
		_, reply, down, _ := b.Down(ctx, "down.test", skewed)
		return down && reply == "421 refused"
	})
	until, reply, down, err := b.Down(ctx, "down.test", skewed)
	if err != nil || !down {
		t.Fatalf("node b: down %v err %v, want down", down, err)
	}
	if left := until.Sub(skewed); left > 10*time.Minute || left < 10*time.Minute-5*time.Second || reply != "421 refused" {
		t.Errorf("node b: %v left (%q), want the longer back-off, 10m less a round trip", left, reply)
	}
	if n, err := b.CountDown(ctx, skewed); err != nil || n != 1 {
		t.Errorf("CountDown = %d, %v", n, err)
	}
	if _, _, down, _ := b.Down(ctx, "up.test", skewed); down {
		t.Error("up.test reported down")
	}
	if err := b.ClearDown(ctx, "down.test"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node a to see down.test cleared", func() bool {
		_, _, down, _ := a.Down(ctx, "down.test", now)
		return !down
	})
	// A back-off that ended is not down.
	if err := a.SetDown(ctx, "brief.test", now.Add(time.Millisecond), "x", now); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, _, down, _ := b.Down(ctx, "brief.test", time.Now()); !down {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a 1ms back-off never ended")
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
}

// TestBudgetsClosed: a closed DB's ledger fails every call (the shaper
// then defers), never blocks.
func TestBudgetsClosed(t *testing.T) {
	url := pg.Get(t).NewDatabase(t)
	db := openTest(t, url, Options{Node: "a", ScratchDir: t.TempDir()})
	l := db.Budgets()
	db.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := l.Update(ctx, "k", "", func(_, _ []byte, _ time.Time, _ int) ([]byte, []byte, bool, error) { return nil, nil, true, nil }); err == nil {
		t.Error("Update on a closed DB succeeded")
	}
}

// TestBudgetsReservationsFollowTheMessage: a reservation one node makes
// for a message is what another node reads for it, and is gone once
// consumed.
func TestBudgetsReservationsFollowTheMessage(t *testing.T) {
	url := pg.Get(t).NewDatabase(t)
	a := openTest(t, url, Options{Node: "a", ScratchDir: t.TempDir()}).Budgets()
	b := openTest(t, url, Options{Node: "b", ScratchDir: t.TempDir()}).Budgets()
	ctx := t.Context()
	if _, err := a.Update(ctx, "k", "m1", func(_, resv []byte, _ time.Time, _ int) ([]byte, []byte, bool, error) {
		return []byte("r"), []byte("slot@1"), false, nil
	}); err != nil {
		t.Fatal(err)
	}
	var got []byte
	if _, err := b.Update(ctx, "k", "m1", func(_, resv []byte, _ time.Time, _ int) ([]byte, []byte, bool, error) {
		got = resv
		return nil, nil, true, nil // consumed
	}); err != nil {
		t.Fatal(err)
	}
	if string(got) != "slot@1" {
		t.Errorf("node b read reservation %q, want node a's", got)
	}
	if _, resv, _, _, err := a.Get(ctx, "k", "m1"); err != nil || resv != nil {
		t.Errorf("after use: reservation %q, %v; want none", resv, err)
	}
}
