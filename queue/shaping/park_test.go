package shaping

import (
	"slices"
	"testing"
)

// TestParking: a message parks once, wakes in arrival order per budget,
// and an unparked one is neither woken nor counted.
func TestParking(t *testing.T) {
	p := newParking()
	for _, id := range []string{"a", "b", "c", "a"} {
		p.park(id, "k")
	}
	p.park("x", "other")
	if n := p.count("k"); n != 3 {
		t.Fatalf("count = %d, want 3 (a parks once)", n)
	}
	p.unpark("b")
	if k, ok := p.key("b"); ok {
		t.Fatalf("b still parked on %q", k)
	}
	if got := p.wake("k", 1); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("wake 1 = %v, want [a]", got)
	}
	if got := p.wake("k", -1); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("wake all = %v, want [c]", got)
	}
	if p.count("k") != 0 || len(p.queue) != 1 {
		t.Fatalf("after waking k: %+v", p)
	}
	if k, ok := p.key("x"); !ok || k != "other" {
		t.Fatalf("x: %q %v", k, ok)
	}
	if got := p.wake("none", 5); len(got) != 0 {
		t.Fatalf("wake of an empty budget = %v", got)
	}
}
