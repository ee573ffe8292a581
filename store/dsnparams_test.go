package store

import (
	"slices"
	"testing"
)

func TestDSNParamsSpelling(t *testing.T) {
	for _, tt := range []struct {
		n    DSNNotify
		want []string
	}{
		{0, nil},
		{NotifyNever, []string{"NEVER"}},
		{NotifyDelay | NotifySuccess, []string{"SUCCESS", "DELAY"}},
		{NotifySuccess | NotifyFailure | NotifyDelay, []string{"SUCCESS", "FAILURE", "DELAY"}},
	} {
		got := tt.n.Keywords()
		if !slices.Equal(got, tt.want) {
			t.Errorf("%d.Keywords() = %v, want %v", tt.n, got, tt.want)
		}
		if back, ok := ParseNotify(got); !ok || back != tt.n {
			t.Errorf("ParseNotify(%v) = %d, %v", got, back, ok)
		}
	}
	if _, ok := ParseNotify([]string{"SOMETIMES"}); ok {
		t.Error("ParseNotify accepted an unknown keyword")
	}
	for _, r := range []DSNRet{RetUnset, RetFull, RetHdrs} {
		if back, ok := ParseRet(r.String()); !ok || back != r {
			t.Errorf("ParseRet(%q) = %v, %v", r.String(), back, ok)
		}
	}
	if r, ok := ParseRet("hdrs"); !ok || r != RetHdrs {
		t.Error("ParseRet is not case-insensitive")
	}
}
