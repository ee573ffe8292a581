package shaping

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func newSharedTest(t *testing.T, l Ledger) *Shared {
	t.Helper()
	s, err := NewShared(SharedOptions{Options: Options{Rules: []Rule{gmail(),
		{Name: "c", Domains: []string{"c.test"}, Limits: Limits{Connections: 2}}}, Logger: slog.New(slog.DiscardHandler)}, Ledger: l, Recheck: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSharedDefersWhenTheLedgerFails: a ledger that cannot be read never
// lets a message go (a budget is not exceeded because the database is
// away): it is deferred, and says why.
func TestSharedDefersWhenTheLedgerFails(t *testing.T) {
	ctx := t.Context()
	l := NewMemoryLedger(nil)
	l.Fail = errors.New("connection refused")
	s := newSharedTest(t, l)
	d := s.Resolve(ctx, "gmail.com")
	dec := s.Admit(ctx, d, "a", 1, t0)
	if dec.Go || dec.Park || !dec.Until.Equal(t0.Add(DefaultUnavailableRetry)) || dec.Wait.Kind != WaitUnavailable {
		t.Fatalf("Admit with the ledger down: %+v, want deferred %v", dec, DefaultUnavailableRetry)
	}
	if got := dec.Wait.Sentence(); got == "" || !strings.Contains(got, "connection refused") {
		t.Errorf("sentence %q does not name the failure", got)
	}
	if wait := s.Recheck(t0); wait >= 0 {
		t.Errorf("Recheck = %v with nothing parked", wait)
	}
}

// TestSharedSlotsAndConnections: over a ledger, a rate slot is reserved
// for the message it was given to, and a connection limit held by
// "another node" (slots this Shared did not take) parks with a recheck.
func TestSharedSlotsAndConnections(t *testing.T) {
	ctx := t.Context()
	// The ledger's clock is an hour behind the nodes': every time the
	// nodes see is theirs.
	var clock time.Time
	l := NewMemoryLedger(func() time.Time { return clock.Add(-time.Hour) })
	at := func(d time.Duration) time.Time { clock = t0.Add(d); return clock }
	s := newSharedTest(t, l)
	other := newSharedTest(t, l) // a second node on the same ledger
	d := s.Resolve(ctx, "gmail.com")
	if dec := s.Admit(ctx, d, "a", 1, at(0)); !dec.Go {
		t.Fatalf("a: %+v", dec)
	}
	s.Finish(ctx, d, nil, at(0))
	b := other.Admit(ctx, d, "b", 1, at(0))
	if b.Go || b.Wait.Kind != WaitRate || !b.Until.Equal(t0.Add(time.Second)) {
		t.Fatalf("b on the other node: %+v, want the next slot, t0+1s", b)
	}
	if c := s.Admit(ctx, d, "c", 1, at(0)); !c.Until.Equal(t0.Add(2 * time.Second)) {
		t.Fatalf("c: %+v, want the slot after b's", c)
	}
	// b's slot is b's on either node: at it, s starts b without a new slot.
	if dec := s.Admit(ctx, d, "b", 1, at(time.Second)); !dec.Go {
		t.Fatalf("b at its slot on the first node: %+v, want Go", dec)
	}
	s.Finish(ctx, d, nil, at(time.Second))
	if dec := other.Admit(ctx, d, "c", 1, at(2*time.Second)); !dec.Go {
		t.Fatalf("c at its slot on the other node: %+v, want Go", dec)
	}
	other.Finish(ctx, d, nil, at(2*time.Second))
	c := s.Resolve(ctx, "c.test")
	for _, id := range []string{"e", "g"} {
		if dec := s.Admit(ctx, c, id, 1, at(5*time.Second)); !dec.Go {
			t.Fatalf("%s: %+v, want Go", id, dec)
		}
	}
	// Both connections (limit 2) are s's: the other node parks f, and
	// rechecks since none of its own deliveries will end.
	f := other.Admit(ctx, c, "f", 1, at(5*time.Second))
	if !f.Park || !f.Wait.Shared || f.Wait.InFlight != 2 {
		t.Fatalf("f: %+v, want parked behind 2 connections", f)
	}
	if !other.Parked("f") {
		t.Fatal("f not parked")
	}
	if wait := other.Recheck(at(5 * time.Second)); wait != time.Second {
		t.Errorf("Recheck = %v, want 1s", wait)
	}
	s.Finish(ctx, c, nil, at(5*time.Second))
	if other.Recheck(at(6 * time.Second)); other.Parked("f") {
		t.Error("f still parked after its recheck")
	}
	if dec := other.Admit(ctx, c, "f", 1, at(6*time.Second)); !dec.Go {
		t.Errorf("f after a connection freed: %+v, want Go", dec)
	}
}

// TestSharedUnlimitedDestination: a destination no rule limits is
// admitted by one read of the ledger, until a reply on another node
// slows or suspends it; then it waits on every node.
func TestSharedUnlimitedDestination(t *testing.T) {
	ctx := t.Context()
	var clock time.Time
	l := NewMemoryLedger(func() time.Time { return clock })
	at := func(d time.Duration) time.Time { clock = t0.Add(d); return clock }
	a, b := newSharedTest(t, l), newSharedTest(t, l)
	d := a.Resolve(ctx, "plain.test")
	for i := range 30 {
		if dec := a.Admit(ctx, d, "m"+string(rune('a'+i%26)), 1, at(0)); !dec.Go {
			t.Fatalf("message %d: %+v, want Go", i, dec)
		}
		a.Finish(ctx, d, nil, at(0))
	}
	if rec, _, _, _, _ := l.Get(ctx, "plain.test", ""); rec != nil {
		t.Errorf("an unlimited destination wrote %s to the ledger", rec)
	}
	if dec := b.Admit(ctx, d, "x", 1, at(0)); !dec.Go {
		t.Fatalf("x: %+v", dec)
	}
	b.Finish(ctx, d, []Reply{{Code: 421, Enhanced: "4.7.0", Text: "too many messages, slow down"}}, at(0))
	st := a.Statuses(ctx, at(time.Second))
	if len(st) != 1 || st[0].State != "throttled" || st[0].PerMinute != unlimitedBase/2 {
		t.Fatalf("node a's statuses: %+v, want plain.test throttled to %v/min", st, unlimitedBase/2)
	}
	if dec := a.Admit(ctx, d, "y", 1, at(time.Second)); dec.Go || dec.Wait.Kind != WaitAdaptive {
		t.Errorf("y on node a after node b's slow-down: %+v, want a slot of the lowered rate", dec)
	}
	b.Finish(ctx, d, []Reply{{Code: 421, Text: "try again in 10 minutes"}}, at(time.Minute))
	if dec := a.Admit(ctx, d, "z", 1, at(2*time.Minute)); dec.Wait.Kind != WaitSuspended || !dec.Until.Equal(t0.Add(11*time.Minute)) {
		t.Errorf("z: %+v, want suspended until t0+11m", dec)
	}
}
