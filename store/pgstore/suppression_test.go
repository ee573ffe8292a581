package pgstore

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// TestListingsCountAcrossNodes: outcomes listing one address on two nodes
// at once count as a single writer counts them (no lost increment): the
// entry appears at the After-th, not before.
func TestListingsCountAcrossNodes(t *testing.T) {
	ctx := context.Background()
	c := newClock(storeT0)
	a, b := twoNodes(t, c, time.Hour)
	const per, after = 5, 10
	expire := func(m *store.Message) error {
		m.Suppress = []store.Listing{{Suppression: store.Suppression{Addr: "slow@example.org", Reason: store.ReasonExpirations}, After: after}}
		return nil
	}
	listed := func() bool {
		got, err := a.Suppressed(ctx, []string{"slow@example.org"}, c.now())
		if err != nil {
			t.Fatal(err)
		}
		return len(got) == 1
	}
	var wg sync.WaitGroup
	for _, db := range []*DB{a, b} {
		ids := make([]string, per)
		for i := range ids {
			ids[i] = enqueueOne(t, db, c.now())
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, id := range ids {
				if err := db.Update(ctx, id, expire); err != nil {
					t.Errorf("Update: %v", err)
				}
				if i == per-2 && db == a && listed() {
					t.Errorf("listed before %d listings", after)
				}
			}
		}()
	}
	wg.Wait()
	if !listed() {
		t.Fatalf("not listed after %d concurrent listings with After %d (an increment was lost)", 2*per, after)
	}
}
