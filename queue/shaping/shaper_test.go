package shaping

import (
	"context"
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func gmail() Rule {
	return Rule{Name: "gmail", Domains: []string{"gmail.com"}, MXSuffixes: []string{"google.com"},
		Limits: Limits{PerMinute: 60, Connections: 2}}
}

func TestResolveByDomainAndMXSuffix(t *testing.T) {
	lookups := 0
	s := New(Options{Rules: []Rule{gmail()}, Lookup: func(_ context.Context, d string) ([]string, error) {
		lookups++
		switch d {
		case "corp.example":
			return []string{"aspmx.l.google.com.", "alt1.aspmx.l.google.com."}, nil
		case "broken.example":
			return nil, errors.New("SERVFAIL")
		}
		return []string{"mx." + d}, nil
	}})
	for _, c := range []struct{ domain, key, rule, mxErr string }{
		{"gmail.com", "gmail", "gmail", ""},
		{"GMAIL.COM.", "gmail", "gmail", ""},
		{"corp.example", "gmail", "gmail", ""},
		{"other.example", "other.example", "", ""},
		{"notgoogle.com", "notgoogle.com", "", ""}, // mx.notgoogle.com is not under google.com
		{"broken.example", "broken.example", "", "SERVFAIL"},
	} {
		d := s.Resolve(context.Background(), c.domain)
		if d.Key != c.key || d.Rule != c.rule || d.MXError != c.mxErr {
			t.Errorf("Resolve(%q) = %+v, want key %q rule %q mxerr %q", c.domain, d, c.key, c.rule, c.mxErr)
		}
	}
	if lookups != 4 {
		t.Errorf("lookups = %d, want 4 (none for a domain a rule lists)", lookups)
	}
}

func TestRateSlotsAreReservedPerMessage(t *testing.T) {
	ctx := t.Context()
	s := New(Options{Rules: []Rule{gmail()}})
	d := s.Resolve(context.Background(), "gmail.com")
	if dec := s.Admit(ctx, d, "a", 1, t0); !dec.Go {
		t.Fatalf("first message: %+v, want Go", dec)
	}
	s.Finish(ctx, d, nil, t0)
	b := s.Admit(ctx, d, "b", 1, t0)
	c := s.Admit(ctx, d, "c", 1, t0)
	if b.Go || !b.Until.Equal(t0.Add(time.Second)) || b.Wait.Kind != WaitRate {
		t.Fatalf("second message: %+v, want deferred to t0+1s by the rate", b)
	}
	if c.Go || !c.Until.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("third message: %+v, want t0+2s", c)
	}
	// Asked again before its slot, b keeps it; a new message queues after c.
	if again := s.Admit(ctx, d, "b", 1, t0.Add(500*time.Millisecond)); !again.Until.Equal(b.Until) {
		t.Errorf("b asked again early: %+v, want its slot %v", again, b.Until)
	}
	if w, ok := s.Reserved(ctx, "c", "gmail", t0); !ok || w.Kind != WaitRate {
		t.Errorf("Reserved(c) = %+v %v", w, ok)
	}
	// At its slot b starts without taking another slot: c's stays free.
	if dec := s.Admit(ctx, d, "b", 1, b.Until); !dec.Go {
		t.Fatalf("b at its slot: %+v, want Go", dec)
	}
	if dec := s.Admit(ctx, d, "c", 1, c.Until); !dec.Go {
		t.Fatalf("c at its slot: %+v, want Go", dec)
	}
}

func TestRateOverAMinute(t *testing.T) {
	ctx := t.Context()
	s := New(Options{Rules: []Rule{{Name: "r", Domains: []string{"r.example"}, Limits: Limits{PerMinute: 600, Burst: 5}}}})
	d := s.Resolve(context.Background(), "r.example")
	started := 0
	for now := t0; now.Before(t0.Add(time.Minute)); now = now.Add(10 * time.Millisecond) {
		if dec := s.Admit(ctx, d, "m", 1, now); dec.Go {
			started++
			s.Finish(ctx, d, nil, now)
		}
	}
	// 600 spaced over the minute plus the burst of 5 at the start.
	if started < 600 || started > 605 {
		t.Errorf("started %d in one minute, want 600..605", started)
	}
}

func TestConnectionsParkAndWake(t *testing.T) {
	ctx := t.Context()
	r := gmail()
	r.Limits.PerMinute = 0
	s := New(Options{Rules: []Rule{r}})
	d := s.Resolve(context.Background(), "gmail.com")
	for _, id := range []string{"a", "b"} {
		if !s.Admit(ctx, d, id, 1, t0).Go {
			t.Fatalf("%s not admitted", id)
		}
	}
	for _, id := range []string{"c", "d", "e"} {
		if dec := s.Admit(ctx, d, id, 1, t0); !dec.Park || dec.Wait.Kind != WaitConnections {
			t.Fatalf("%s: %+v, want parked", id, dec)
		}
		if !s.Parked(id) {
			t.Fatalf("%s not reported parked", id)
		}
	}
	if wake := s.Finish(ctx, d, nil, t0); len(wake) != 1 || wake[0] != "c" {
		t.Fatalf("one finished: woke %v, want [c]", wake)
	}
	if s.Parked("c") || !s.Parked("d") {
		t.Fatal("c should be woken, d still parked")
	}
	if wake := s.Finish(ctx, d, nil, t0); len(wake) != 2 {
		t.Fatalf("none in flight: woke %v, want the other two", wake)
	}
}

func TestSlowDownReplyHalvesOnlyThatDestinationAndRecovers(t *testing.T) {
	ctx := t.Context()
	s := New(Options{Rules: []Rule{gmail()}})
	g := s.Resolve(context.Background(), "gmail.com")
	o := s.Resolve(context.Background(), "other.example")
	if !s.Admit(ctx, g, "a", 1, t0).Go {
		t.Fatal("a")
	}
	s.Finish(ctx, g, []Reply{{Code: 421, Enhanced: "4.7.28", Text: "unusual rate of unsolicited mail"}}, t0)
	st := s.Statuses(ctx, t0)
	if len(st) != 1 || st[0].Key != "gmail" || st[0].State != "throttled" || st[0].PerMinute != 30 {
		t.Fatalf("statuses after 421 4.7.28: %+v, want gmail throttled at 30/min", st)
	}
	// A second reply within the hold-off is the same signal.
	if !s.Admit(ctx, g, "b", 1, t0.Add(2*time.Second)).Go {
		t.Fatal("b should get the first adaptive slot at t0+2s")
	}
	s.Finish(ctx, g, []Reply{{Code: 421, Enhanced: "4.7.28"}}, t0.Add(2*time.Second))
	if st := s.Statuses(ctx, t0.Add(2*time.Second)); st[0].PerMinute != 30 {
		t.Errorf("rate after a second 421 within the hold-off: %v, want still 30", st[0].PerMinute)
	}
	dec := s.Admit(ctx, g, "c", 1, t0.Add(2*time.Second))
	if dec.Go || dec.Wait.Kind != WaitAdaptive || dec.Wait.Reply != "421 4.7.28 unusual rate of unsolicited mail" {
		t.Errorf("c: %+v, want held by the adaptive rate with the reply", dec)
	}
	// Another destination is not touched.
	for i := range 100 {
		if !s.Admit(ctx, o, "o", 1, t0).Go {
			t.Fatalf("other destination held back at message %d", i)
		}
		s.Finish(ctx, o, nil, t0)
	}
	// Five quiet steps later the rate is whole again and the state gone.
	if st := s.Statuses(ctx, t0.Add(4*time.Minute)); len(st) != 1 || st[0].PerMinute != 54 {
		t.Errorf("after 4 steps: %+v, want 54/min", st)
	}
	if st := s.Statuses(ctx, t0.Add(5*time.Minute)); len(st) != 0 {
		t.Errorf("after 5 steps: %+v, want recovered", st)
	}
}

func TestSuspendForTheTimeTheReplyNames(t *testing.T) {
	ctx := t.Context()
	s := New(Options{})
	d := s.Resolve(context.Background(), "y.example")
	s.Admit(ctx, d, "a", 1, t0)
	s.Finish(ctx, d, []Reply{{Code: 421, Enhanced: "4.7.0", Text: "[TSS04] Messages temporarily deferred, try again in 10 minutes"}}, t0)
	dec := s.Admit(ctx, d, "b", 1, t0.Add(time.Minute))
	if dec.Go || dec.Wait.Kind != WaitSuspended || !dec.Until.Equal(t0.Add(10*time.Minute)) || dec.Wait.Reaction != "yahoo-deferred" {
		t.Fatalf("after TSS04 naming 10 minutes: %+v", dec)
	}
	if dec := s.Admit(ctx, d, "b", 1, t0.Add(10*time.Minute)); !dec.Go {
		t.Errorf("at the end of the suspension: %+v, want Go (first adaptive slot)", dec)
	}
	// Outlook's busy reply names no time: the table's 5 minutes.
	s.Finish(ctx, d, []Reply{{Code: 451, Enhanced: "4.7.500", Text: "Server busy. Please try again later"}}, t0.Add(11*time.Minute))
	if dec := s.Admit(ctx, d, "c", 1, t0.Add(11*time.Minute)); !dec.Until.Equal(t0.Add(16 * time.Minute)) {
		t.Errorf("after 451 4.7.500: %+v, want suspended to +5m", dec)
	}
	if n := s.Reactions(); n["yahoo-deferred"] != 1 || n["outlook-busy"] != 1 {
		t.Errorf("reactions = %v", n)
	}
}

func TestOrdinaryRepliesDoNotReact(t *testing.T) {
	ctx := t.Context()
	s := New(Options{})
	d := s.Resolve(context.Background(), "x.example")
	for _, r := range []Reply{{Code: 250}, {Code: 450, Enhanced: "4.2.0", Text: "mailbox busy"}, {Code: 550, Enhanced: "5.7.28"}, {Text: "connection refused"}} {
		s.Admit(ctx, d, "a", 1, t0)
		s.Finish(ctx, d, []Reply{r}, t0)
	}
	if st := s.Statuses(ctx, t0); len(st) != 0 {
		t.Errorf("statuses = %+v, want none", st)
	}
}

func TestReplyWait(t *testing.T) {
	for _, c := range []struct {
		text string
		want time.Duration
	}{
		{"try again in 5 minutes", 5 * time.Minute},
		{"Retry after 300 seconds", 300 * time.Second},
		{"deferred for 2 hours", 2 * time.Hour},
		{"come back in 99 hours", maxNamedWait},
		{"4.7.28 unusual rate", 0},
		{"in 10 mailboxes", 0},
	} {
		if got := replyWait(c.text); got != c.want {
			t.Errorf("replyWait(%q) = %v, want %v", c.text, got, c.want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, r := range []Rule{{}, {Name: "x"}, {Name: "x", Domains: []string{"a"}, Limits: Limits{PerMinute: -1}}} {
		if r.Validate() == nil {
			t.Errorf("rule %+v validated", r)
		}
	}
	for _, x := range []Reaction{{Name: "all", Action: Slow}, {Name: "perm", Code: 550, Action: Slow}, {Name: "noact", Code: 421}} {
		if x.Validate() == nil {
			t.Errorf("reaction %+v validated", x)
		}
	}
	for _, r := range Presets() {
		if err := r.Validate(); err != nil || r.Source == "" {
			t.Errorf("preset %s: %v (source %q)", r.Name, err, r.Source)
		}
	}
	for _, x := range DefaultReactions() {
		if err := x.Validate(); err != nil || x.Source == "" {
			t.Errorf("default reaction %s: %v", x.Name, err)
		}
	}
}

// A reaction voids the slots reserved at the old rate and the configured
// rate forgets them: the new slots start from now at the new rate, not
// after the void ones.
func TestReactionVoidsReservations(t *testing.T) {
	ctx := t.Context()
	r := gmail()
	r.Limits.Connections = 0
	s := New(Options{Rules: []Rule{r}})
	d := s.Resolve(context.Background(), "gmail.com")
	s.Admit(ctx, d, "a", 1, t0)
	for i := range 10 { // slots t0+1s ... t0+10s
		s.Admit(ctx, d, string(rune('b'+i)), 1, t0)
	}
	s.Finish(ctx, d, []Reply{{Code: 421, Enhanced: "4.7.28"}}, t0)
	if _, ok := s.Reserved(ctx, "b", "gmail", t0); ok {
		t.Error("b's slot survived the reaction")
	}
	// At 30/min the first new slot is one interval (2s) from the reaction,
	// not after the ten void ones.
	if dec := s.Admit(ctx, d, "b", 1, t0.Add(time.Second)); !dec.Until.Equal(t0.Add(2 * time.Second)) {
		t.Errorf("b after the reaction: %+v, want its new slot at t0+2s", dec)
	}
}
