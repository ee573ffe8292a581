package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestNormalizeAddress(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"ann@example.com", "ann@example.com"},
		{"ann@EXAMPLE.Com", "ann@example.com"},
		{"ann@example.com.", "ann@example.com"},
		{"<ann@example.com>", "ann@example.com"},
		{" ann@example.com ", "ann@example.com"},
		// The local part is the destination's to interpret (RFC 5321 §2.4).
		{"Ann@example.com", "Ann@example.com"},
		{"ann+tag@example.com", "ann+tag@example.com"},
		{"a.nn@example.com", "a.nn@example.com"},
		// Needless quotes are not part of the mailbox (RFC 5321 §4.1.2).
		{`"ann"@example.com`, "ann@example.com"},
		{`"a.nn"@Example.com`, "a.nn@example.com"},
		{`"a nn"@example.com`, `"a nn"@example.com`},
		{`"a@b"@example.com`, `"a@b"@example.com`},
		{`"a..b"@example.com`, `"a..b"@example.com`},
		{"ann@[192.0.2.1]", "ann@[192.0.2.1]"},
		{"ann@bücher.example", "ann@bücher.example"},
		{"ann@BÜCHER.example", "ann@bücher.example"},
		{"ann", ""},
		{"@example.com", ""},
		{"ann@", ""},
		{"ann@.", ""},
	} {
		if got := NormalizeAddress(tt.in); got != tt.want {
			t.Errorf("NormalizeAddress(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestSuppressionList: add by hand (normalised), look up by any spelling
// of the address, expiry, list order and paging, removal.
func TestSuppressionList(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, "", Options{})
	s, err := db.Suppress(ctx, Suppression{Addr: "Ann@Example.COM", Reply: "asked to stop"})
	if err != nil || s.Addr != "Ann@example.com" || s.Reason != ReasonManual || !s.Created.Equal(t0) {
		t.Fatalf("Suppress = %+v, %v", s, err)
	}
	if _, err := db.Suppress(ctx, Suppression{Addr: "bob@example.com", Reason: ReasonBounce, Expires: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Suppress(ctx, Suppression{Addr: "nobody"}); !errors.Is(err, ErrBadAddress) {
		t.Errorf("Suppress of a non-address: %v", err)
	}
	got, err := db.Suppressed(ctx, []string{"Ann@example.com.", "ann@example.com", "bob@EXAMPLE.com", "carl@example.com"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["Ann@example.com."].Reply != "asked to stop" || got["bob@EXAMPLE.com"].Reason != ReasonBounce {
		t.Errorf("Suppressed = %+v", got)
	}
	if got, _ := db.Suppressed(ctx, []string{"bob@example.com"}, t0.Add(time.Hour)); len(got) != 0 {
		t.Errorf("an expired entry still applies: %+v", got)
	}
	all, _ := db.Suppressions(ctx, "", 0)
	if len(all) != 2 || all[0].Addr != "Ann@example.com" || all[1].Addr != "bob@example.com" {
		t.Errorf("Suppressions = %+v", all)
	}
	if page, _ := db.Suppressions(ctx, "Ann@example.com", 1); len(page) != 1 || page[0].Addr != "bob@example.com" {
		t.Errorf("second page = %+v", page)
	}
	if n, err := db.PruneSuppressions(ctx, t0.Add(2*time.Hour)); n != 1 || err != nil {
		t.Errorf("PruneSuppressions = %d, %v", n, err)
	}
	if err := db.Unsuppress(ctx, "ANN@example.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Unsuppress of another local part: %v", err)
	}
	if err := db.Unsuppress(ctx, "Ann@EXAMPLE.com"); err != nil {
		t.Fatal(err)
	}
	if all, _ := db.Suppressions(ctx, "", 0); len(all) != 0 {
		t.Errorf("after removal: %+v", all)
	}
}

// TestListingWithOutcome: an Update's listings are applied in its
// transaction; After counts consecutive ones; a delivery resets the
// count and lifts an automatic entry but not a manual one; a failed
// Update lists nothing.
func TestListingWithOutcome(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, "", Options{})
	id := enqueue(t, db, &Message{Recipients: rcpts("gone@example.com", "slow@example.com", "kept@example.com")}, []byte("x"))
	if _, err := db.Suppress(ctx, Suppression{Addr: "kept@example.com"}); err != nil {
		t.Fatal(err)
	}
	listed := func(addr string) *Suppression {
		got, err := db.Suppressed(ctx, []string{addr}, t0)
		if err != nil {
			t.Fatal(err)
		}
		if s, ok := got[addr]; ok {
			return &s
		}
		return nil
	}
	expire := func(m *Message) error {
		m.Suppress = []Listing{{Suppression: Suppression{Addr: "slow@example.com", Reason: ReasonExpirations}, After: 3}}
		return nil
	}
	if err := db.Update(ctx, id, func(m *Message) error {
		m.Recipients[0].State = StateBounced
		m.Suppress = []Listing{{Suppression: Suppression{Addr: "gone@example.com", Reason: ReasonBounce, Reply: "550 5.1.1 no such user", MsgID: m.ID}}}
		return errors.New("refused")
	}); err == nil {
		t.Fatal("a failing fn committed")
	}
	if listed("gone@example.com") != nil {
		t.Fatal("a failed Update listed its address")
	}
	if err := db.Update(ctx, id, func(m *Message) error {
		m.Recipients[0].State = StateBounced
		m.Suppress = []Listing{{Suppression: Suppression{Addr: "gone@example.com", Reason: ReasonBounce, Reply: "550 5.1.1 no such user", MsgID: m.ID}}}
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
	db.Update(ctx, id, func(m *Message) error { m.Recipients[1].State = StateDelivered; return nil })
	db.Update(ctx, id, func(m *Message) error { m.Recipients[1].State = StateQueued; return nil })
	for i := 1; i <= 2; i++ {
		db.Update(ctx, id, expire)
	}
	if listed("slow@example.com") != nil {
		t.Fatal("a delivery did not reset the count of expirations")
	}
	db.Update(ctx, id, expire)
	if s := listed("slow@example.com"); s == nil || s.Reason != ReasonExpirations {
		t.Fatalf("not listed after 3 consecutive expirations: %+v", s)
	}
	// Delivered after all: the automatic entry goes, the manual one stays.
	db.Update(ctx, id, func(m *Message) error {
		m.Recipients[1].State = StateDelivered
		m.Recipients[2].State = StateDelivered
		return nil
	})
	if listed("slow@example.com") != nil {
		t.Error("a delivery left the automatic entry")
	}
	if s := listed("kept@example.com"); s == nil || s.Reason != ReasonManual {
		t.Error("a delivery removed a manual entry")
	}
	// An automatic listing never replaces a manual entry.
	db.Update(ctx, id, func(m *Message) error {
		m.Suppress = []Listing{{Suppression: Suppression{Addr: "kept@example.com", Reason: ReasonBounce}}}
		return nil
	})
	if s := listed("kept@example.com"); s == nil || s.Reason != ReasonManual {
		t.Errorf("manual entry replaced: %+v", s)
	}
}
