package tlspolicy

import (
	"context"
	"errors"
	"testing"
)

type staticSource struct {
	p   Policy
	err error
}

func (s staticSource) Policy(context.Context, string) (Policy, error) { return s.p, s.err }

// DANE, listed first, takes precedence; an empty source gives way; an
// error stops the search rather than falling back to a weaker policy.
func TestChain(t *testing.T) {
	dane := staticSource{p: Policy{Type: TypeDANE, Domain: "d"}}
	sts := staticSource{p: Policy{Type: TypeMTASTS, Domain: "d"}}
	none := staticSource{p: Policy{Note: "no record", Failure: &Failure{Result: ResultSTSPolicyFetchError}}}
	broken := staticSource{err: errors.New("SERVFAIL")}
	tests := []struct {
		name  string
		chain Chain
		want  Type
		err   bool
	}{
		{"dane before mta-sts", Chain{dane, sts}, TypeDANE, false},
		{"no dane, mta-sts", Chain{staticSource{}, sts}, TypeMTASTS, false},
		{"nil skipped", Chain{nil, sts}, TypeMTASTS, false},
		{"none at all", Chain{staticSource{}, none}, TypeNone, false},
		{"error stops", Chain{broken, sts}, TypeNone, true},
	}
	for _, tt := range tests {
		p, err := tt.chain.Policy(context.Background(), "d")
		if p.Type != tt.want || (err != nil) != tt.err {
			t.Errorf("%s: %v, %v", tt.name, p.Type, err)
		}
	}
	if p, _ := (Chain{staticSource{}, none}).Policy(context.Background(), "d"); p.Failure == nil {
		t.Error("the failure of a source without a policy was lost")
	}
}

func TestLevelOf(t *testing.T) {
	for o, want := range map[Outcome]Level{
		{}:                  LevelPlain,
		{Version: "TLS1.3"}: LevelEncrypted,
		{Version: "TLS1.3", VerifiedBy: VerifiedDANE}: LevelVerified,
	} {
		if got := LevelOf(o); got != want {
			t.Errorf("LevelOf(%+v) = %v, want %v", o, got, want)
		}
	}
}
