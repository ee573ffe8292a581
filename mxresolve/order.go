package mxresolve

import (
	"cmp"
	"slices"
)

// MX is one mail exchanger record: a target host name and its preference.
type MX struct {
	Host string // target, normalised: lower case, no trailing dot
	Pref uint16 // lower is tried first
}

// ShuffleFunc randomly permutes n elements by calling swap, with the
// signature of math/rand/v2's Shuffle and (*rand.Rand).Shuffle.
type ShuffleFunc func(n int, swap func(i, j int))

// Order returns the exchangers in the order to try them (RFC 5321 §5.1):
// ascending preference, and within one preference a random order drawn
// with shuffle, so that load spreads over equal hosts. A host listed more
// than once keeps only its lowest preference. mxs is not modified. A nil
// shuffle keeps equal preferences in their input order.
func Order(mxs []MX, shuffle ShuffleFunc) []MX {
	out := make([]MX, 0, len(mxs))
	seen := make(map[string]int, len(mxs)) // host → index in out
	for _, mx := range mxs {
		if i, ok := seen[mx.Host]; ok {
			out[i].Pref = min(out[i].Pref, mx.Pref)
			continue
		}
		seen[mx.Host] = len(out)
		out = append(out, mx)
	}
	slices.SortStableFunc(out, func(a, b MX) int { return cmp.Compare(a.Pref, b.Pref) })
	if shuffle == nil {
		return out
	}
	for start := 0; start < len(out); {
		end := start + 1
		for end < len(out) && out[end].Pref == out[start].Pref {
			end++
		}
		if run := out[start:end]; len(run) > 1 {
			shuffle(len(run), func(i, j int) { run[i], run[j] = run[j], run[i] })
		}
		start = end
	}
	return out
}
