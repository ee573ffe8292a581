package mxresolve

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// reverse is a deterministic ShuffleFunc that makes shuffling visible.
func reverse(n int, swap func(i, j int)) {
	for i := range n / 2 {
		swap(i, n-1-i)
	}
}

func hostsOf(mxs []MX) string {
	var names []string
	for _, mx := range mxs {
		names = append(names, mx.Host)
	}
	return strings.Join(names, " ")
}

func TestOrder(t *testing.T) {
	tests := []struct {
		name    string
		in      []MX
		shuffle ShuffleFunc
		want    string
	}{
		{"empty", nil, reverse, ""},
		{"single", []MX{{"a", 10}}, reverse, "a"},
		{"ascending preference", []MX{{"c", 30}, {"a", 10}, {"b", 20}}, reverse, "a b c"},
		{"zero is best", []MX{{"b", 65535}, {"a", 0}}, reverse, "a b"},
		{"equal preferences shuffled", []MX{{"a", 10}, {"b", 10}, {"c", 10}}, reverse, "c b a"},
		{"shuffle stays within a preference", []MX{{"x", 20}, {"a", 10}, {"b", 10}, {"y", 20}, {"z", 30}}, reverse, "b a y x z"},
		{"nil shuffle keeps input order", []MX{{"a", 10}, {"b", 10}, {"c", 5}}, nil, "c a b"},
		{"duplicate host keeps lowest preference", []MX{{"a", 20}, {"b", 15}, {"a", 10}}, nil, "a b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.in)
			got := Order(in, tt.shuffle)
			if hostsOf(got) != tt.want {
				t.Errorf("Order = %q, want %q", hostsOf(got), tt.want)
			}
			if !slices.Equal(in, tt.in) {
				t.Errorf("Order modified its input: %v", in)
			}
			if !slices.IsSortedFunc(got, func(a, b MX) int { return int(a.Pref) - int(b.Pref) }) {
				t.Errorf("Order not sorted by preference: %v", got)
			}
		})
	}
}

func TestOrderDuplicatePreference(t *testing.T) {
	got := Order([]MX{{"a", 20}, {"a", 10}}, nil)
	if len(got) != 1 || got[0] != (MX{"a", 10}) {
		t.Errorf("Order = %v, want [{a 10}]", got)
	}
}

// A seeded source gives the same order every time: the seam makes
// equal-preference shuffling reproducible.
func TestOrderSeededIsDeterministic(t *testing.T) {
	in := []MX{{"a", 10}, {"b", 10}, {"c", 10}, {"d", 10}, {"e", 20}}
	first := hostsOf(Order(in, rand.New(rand.NewPCG(1, 2)).Shuffle))
	for range 10 {
		if got := hostsOf(Order(in, rand.New(rand.NewPCG(1, 2)).Shuffle)); got != first {
			t.Fatalf("seeded order changed: %q then %q", first, got)
		}
	}
}

// Every order of three equal hosts happens, and the better host always
// comes first. With 600 draws, missing one of 6 orders has probability
// about 6·(5/6)^600 < 1e-46.
func TestOrderShuffleCoversAllOrders(t *testing.T) {
	in := []MX{{"a", 10}, {"b", 10}, {"c", 10}, {"best", 1}}
	seen := map[string]int{}
	for range 600 {
		got := Order(in, rand.Shuffle)
		if got[0].Host != "best" {
			t.Fatalf("shuffle crossed preferences: %v", got)
		}
		seen[hostsOf(got[1:])]++
	}
	if len(seen) != 6 {
		t.Errorf("saw %d of 6 orders: %v", len(seen), seen)
	}
}
