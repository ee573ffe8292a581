package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// The suppression list: entries by hand, and listings made by an Update
// in the transaction of the outcome that causes them (store.ApplyListings).

// testSuppressionList: add by hand (normalised), look up by any spelling
// of the address, expiry, list order and paging, removal.
func testSuppressionList(t *testing.T, opener Opener) {
	ctx := context.Background()
	db := open(opener, Options{})
	s, err := db.Suppress(ctx, store.Suppression{Addr: "Ann@Example.COM", Reply: "asked to stop"})
	if err != nil || s.Addr != "Ann@example.com" || s.Reason != store.ReasonManual || !s.Created.Equal(T0) {
		t.Fatalf("Suppress = %+v, %v", s, err)
	}
	if _, err := db.Suppress(ctx, store.Suppression{Addr: "bob@example.com", Reason: store.ReasonBounce, Expires: T0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Suppress(ctx, store.Suppression{Addr: "nobody"}); !errors.Is(err, store.ErrBadAddress) {
		t.Errorf("Suppress of a non-address: %v", err)
	}
	got, err := db.Suppressed(ctx, []string{"Ann@example.com.", "ann@example.com", "bob@EXAMPLE.com", "carl@example.com"}, T0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["Ann@example.com."].Reply != "asked to stop" || got["bob@EXAMPLE.com"].Reason != store.ReasonBounce {
		t.Errorf("Suppressed = %+v", got)
	}
	if got, _ := db.Suppressed(ctx, []string{"bob@example.com"}, T0.Add(time.Hour)); len(got) != 0 {
		t.Errorf("an expired entry still applies: %+v", got)
	}
	all, _ := db.Suppressions(ctx, "", 0)
	if len(all) != 2 || all[0].Addr != "Ann@example.com" || all[1].Addr != "bob@example.com" {
		t.Errorf("Suppressions = %+v", all)
	}
	if page, _ := db.Suppressions(ctx, "Ann@example.com", 1); len(page) != 1 || page[0].Addr != "bob@example.com" {
		t.Errorf("second page = %+v", page)
	}
	if n, err := db.PruneSuppressions(ctx, T0.Add(2*time.Hour)); n != 1 || err != nil {
		t.Errorf("PruneSuppressions = %d, %v", n, err)
	}
	if err := db.Unsuppress(ctx, "ANN@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Unsuppress of another local part: %v", err)
	}
	if err := db.Unsuppress(ctx, "Ann@EXAMPLE.com"); err != nil {
		t.Fatal(err)
	}
	if all, _ := db.Suppressions(ctx, "", 0); len(all) != 0 {
		t.Errorf("after removal: %+v", all)
	}
}

// testListingWithOutcome: an Update's listings are applied in its
// transaction; After counts consecutive ones; a delivery resets the
// count and lifts an automatic entry but not a manual one; a failed
// Update lists nothing.
func testListingWithOutcome(t *testing.T, opener Opener) {
	ctx := context.Background()
	db := open(opener, Options{})
	id := enqueue(t, db, &store.Message{Recipients: rcpts("gone@example.com", "slow@example.com", "kept@example.com")}, []byte("x"))
	if _, err := db.Suppress(ctx, store.Suppression{Addr: "kept@example.com"}); err != nil {
		t.Fatal(err)
	}
	listed := func(addr string) *store.Suppression {
		got, err := db.Suppressed(ctx, []string{addr}, T0)
		if err != nil {
			t.Fatal(err)
		}
		if s, ok := got[addr]; ok {
			return &s
		}
		return nil
	}
	expire := func(m *store.Message) error {
		m.Suppress = []store.Listing{{Suppression: store.Suppression{Addr: "slow@example.com", Reason: store.ReasonExpirations}, After: 3}}
		return nil
	}
	if err := db.Update(ctx, id, func(m *store.Message) error {
		m.Recipients[0].State = store.StateBounced
		m.Suppress = []store.Listing{{Suppression: store.Suppression{Addr: "gone@example.com", Reason: store.ReasonBounce, Reply: "550 5.1.1 no such user", MsgID: m.ID}}}
		return errors.New("refused")
	}); err == nil {
		t.Fatal("a failing fn committed")
	}
	if listed("gone@example.com") != nil {
		t.Fatal("a failed Update listed its address")
	}
	if err := db.Update(ctx, id, func(m *store.Message) error {
		m.Recipients[0].State = store.StateBounced
		m.Suppress = []store.Listing{{Suppression: store.Suppression{Addr: "gone@example.com", Reason: store.ReasonBounce, Reply: "550 5.1.1 no such user", MsgID: m.ID}}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if s := listed("gone@example.com"); s == nil || s.Reply != "550 5.1.1 no such user" || s.MsgID != id {
		t.Fatalf("bounce listing = %+v", s)
	}
	if m, _ := db.Get(ctx, id); m.Suppress != nil {
		t.Error("Suppress was stored in the record")
	}
	for i := 1; i <= 2; i++ {
		db.Update(ctx, id, expire)
		if listed("slow@example.com") != nil {
			t.Fatalf("listed after %d of 3 expirations", i)
		}
	}
	// A delivery in between: the count starts again.
	db.Update(ctx, id, func(m *store.Message) error { m.Recipients[1].State = store.StateDelivered; return nil })
	db.Update(ctx, id, func(m *store.Message) error { m.Recipients[1].State = store.StateQueued; return nil })
	for i := 1; i <= 2; i++ {
		db.Update(ctx, id, expire)
	}
	if listed("slow@example.com") != nil {
		t.Fatal("a delivery did not reset the count of expirations")
	}
	db.Update(ctx, id, expire)
	if s := listed("slow@example.com"); s == nil || s.Reason != store.ReasonExpirations {
		t.Fatalf("not listed after 3 consecutive expirations: %+v", s)
	}
	// Delivered after all: the automatic entry goes, the manual one stays.
	db.Update(ctx, id, func(m *store.Message) error {
		m.Recipients[1].State = store.StateDelivered
		m.Recipients[2].State = store.StateDelivered
		return nil
	})
	if listed("slow@example.com") != nil {
		t.Error("a delivery left the automatic entry")
	}
	if s := listed("kept@example.com"); s == nil || s.Reason != store.ReasonManual {
		t.Error("a delivery removed a manual entry")
	}
	// An automatic listing never replaces a manual entry.
	db.Update(ctx, id, func(m *store.Message) error {
		m.Suppress = []store.Listing{{Suppression: store.Suppression{Addr: "kept@example.com", Reason: store.ReasonBounce}}}
		return nil
	})
	if s := listed("kept@example.com"); s == nil || s.Reason != store.ReasonManual {
		t.Errorf("manual entry replaced: %+v", s)
	}
}

// testTLSState: the MTA-STS policy cache and the downgrade memory, keyed
// by the normalised domain, kept across a restart.
func testTLSState(t *testing.T, opener Opener) {
	ctx := context.Background()
	db := open(opener, Options{})
	if v, err := db.MTASTSPolicy(ctx, "example.com"); v != nil || err != nil {
		t.Fatalf("empty spool: %q, %v", v, err)
	}
	if err := db.PutMTASTSPolicy(ctx, "Example.COM.", []byte("p1")); err != nil {
		t.Fatal(err)
	}
	for _, l := range []uint8{1, 2, 1} {
		if err := db.RaiseTLSLevel(ctx, "example.com", l); err != nil {
			t.Fatal(err)
		}
	}
	if l, _ := db.TLSLevel(ctx, "EXAMPLE.com"); l != 2 {
		t.Fatalf("level %d after raising to 2 and offering 1, want 2", l)
	}
	if err := db.PutMTASTSPolicy(ctx, "", []byte("p")); !errors.Is(err, store.ErrNoDomain) {
		t.Errorf("policy of no domain: %v", err)
	}
	db.Close()
	db = open(opener, Options{})
	if v, _ := db.MTASTSPolicy(ctx, "example.com"); string(v) != "p1" {
		t.Fatalf("policy after reopen %q", v)
	}
	if all, _ := db.TLSLevels(ctx); all["example.com"] != 2 || len(all) != 1 {
		t.Fatalf("levels %v", all)
	}
	if found, err := db.ResetTLSLevel(ctx, "example.com"); !found || err != nil {
		t.Fatalf("reset: %v, %v", found, err)
	}
	if l, _ := db.TLSLevel(ctx, "example.com"); l != 0 {
		t.Fatalf("level %d after reset", l)
	}
	if found, _ := db.ResetTLSLevel(ctx, "example.com"); found {
		t.Fatal("second reset found a level")
	}
}
