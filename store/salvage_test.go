package store

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
)

// TestSalvage: on every damage, every message whose pages are intact comes
// back whole (envelope, recipient states, prefix and body) under its own
// ID; every other one is listed as lost; nothing comes back altered.
func TestSalvage(t *testing.T) {
	ctx := context.Background()
	seed := seedSpool(t, 300)
	for _, d := range damages() {
		t.Run(d.name, func(t *testing.T) {
			s := seed.clone(t)
			l := readLayout(t, s.path)
			bad, cutFrom := d.do(t, s.path, l)
			intact := s.intact(l, bad, cutFrom)
			to := filepath.Join(t.TempDir(), "new")
			r, err := Salvage(ctx, s.dir, to, Options{Logger: quietLogger()})
			if err != nil {
				t.Fatalf("Salvage: %v", err)
			}
			if c, err := Check(to, 0); err != nil || !c.Clean() {
				t.Errorf("salvaged spool not clean: %v %+v", err, c)
			}
			db := openTest(t, to, Options{})
			got := map[string]bool{}
			ms, err := db.List(ctx, Filter{Done: true, Limit: MaxListLimit})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range ms {
				got[m.ID] = true
				want, ok := s.msgs[m.ID]
				if !ok {
					t.Errorf("%s: salvaged a message that was never enqueued", m.ID)
					continue
				}
				if slices.Contains(r.Held, m.ID) {
					want = heldCopy(want)
				}
				if !equalMessages(m, want) {
					t.Errorf("%s: envelope differs:\n got %+v\nwant %+v", m.ID, m, want)
				}
				if body := readBody(t, db, m.ID); string(body) != string(s.bodies[m.ID]) {
					t.Errorf("%s: body differs (%d bytes, want %d)", m.ID, len(body), len(s.bodies[m.ID]))
				}
			}
			nIntact := 0
			for id, ok := range intact {
				if ok {
					nIntact++
					if !got[id] {
						t.Errorf("%s: its pages are intact but it was not salvaged", id)
					}
				}
			}
			// A message whose record, index entries and body are all
			// gone is known to no one: lost without being listed.
			if len(r.Lost)+r.Recovered > len(s.msgs) {
				t.Errorf("recovered %d + lost %d > %d messages in", r.Recovered, len(r.Lost), len(s.msgs))
			}
			if r.Complete() && r.Recovered != len(s.msgs) {
				t.Errorf("Complete() = %v with %d of %d recovered", r.Complete(), r.Recovered, len(s.msgs))
			}
			for i, l := range r.Lost {
				if i < 5 {
					t.Log(l)
				}
			}
			for i, l := range append(r.Unreadable, r.Notes...) {
				if i < 5 {
					t.Log(l)
				}
			}
			t.Logf("messages in %d, pages intact %d, recovered %d (%d on hold), lost %d listed + %d unknown, unreadable pages %d",
				len(s.msgs), nIntact, r.Recovered, len(r.Held), len(r.Lost), len(s.msgs)-r.Recovered-len(r.Lost), len(r.Unreadable))
		})
	}
}

// heldCopy is m as Salvage copies it on hold.
func heldCopy(m *Message) *Message {
	c, _ := DecodeMessage(EncodeMessage(m))
	c.ID = m.ID
	for i := range c.Recipients {
		if !c.Recipients[i].State.Final() {
			c.Recipients[i].State = StateHeld
		}
	}
	return c
}

// TestSalvageRefuses: not into an existing spool, not beside a daemon.
func TestSalvageRefuses(t *testing.T) {
	ctx := context.Background()
	from, to := t.TempDir(), t.TempDir()
	openTest(t, to, Options{}).Close()
	openTest(t, from, Options{})
	if _, err := Salvage(ctx, from, t.TempDir(), Options{LockTimeout: 50e6}); !errors.Is(err, ErrLocked) {
		t.Errorf("Salvage from an open spool = %v, want ErrLocked", err)
	}
	if _, err := Salvage(ctx, from, to, Options{}); err == nil {
		t.Error("Salvage into an existing spool succeeded")
	}
}
