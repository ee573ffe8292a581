package shaping

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// LookupFunc returns the MX host names of domain, best first (the
// delivery resolver's answer, cached there).
type LookupFunc func(ctx context.Context, domain string) ([]string, error)

// Options configure New.
type Options struct {
	// Rules are matched in order; the first that matches a destination
	// gives its budget. cmd puts the configured rules before Presets.
	Rules []Rule
	// Reactions are the slow-down replies, matched in order; nil means
	// DefaultReactions.
	Reactions []Reaction
	// Lookup finds a domain's MX hosts for the rules' MXSuffixes; nil
	// matches by domain only.
	Lookup LookupFunc
	// RecoverStep is the time between two additive increases of a slowed
	// destination; default DefaultRecoverStep. Replies within a sixth of
	// it of a decrease do not decrease again.
	RecoverStep time.Duration
	// Logger; the shaper adds component=shaping. Default slog.Default().
	Logger *slog.Logger
}

// Dest is a destination as the shaper budgets it.
type Dest struct {
	// Key names the budget: the rule's name, or the recipient domain when
	// no rule matches (its limits are then only the adaptive ones).
	Key string
	// Rule is the matching rule's name, "" when none.
	Rule   string
	Limits Limits
	// MXError is set when the MX lookup for the rules' suffixes failed;
	// the domain then has its own budget.
	MXError string
}

// Shaper holds the per-destination budgets, in memory: concurrency, rate
// slots, adaptive slow-downs and suspensions. It is safe for concurrent
// use. Time is always passed in, so callers drive it with their clock.
type Shaper struct {
	rules   []Rule
	reacts  []Reaction
	lookup  LookupFunc
	step    time.Duration
	log     *slog.Logger
	needsMX bool

	mu       sync.Mutex
	dests    map[string]*destState
	parked   parking
	res      map[resKey]reservation
	reacted  map[string]uint64 // reaction name → replies acted on
	admitted uint64
}

type resKey struct{ id, key string }

// reservation is a rate slot held for one message's group: it was
// deferred to at, and starts then without taking another slot.
type reservation struct {
	at   time.Time
	gen  uint64
	wait Wait
}

// destState is one budget's live state.
type destState struct {
	dest      Dest
	inflight  int
	minute    gcra
	hour      gcra
	adapt     adaptive
	gen       uint64 // bumped by a reaction: older reservations are void
	suspUntil time.Time
	suspSince time.Time
	suspReply string
	suspBy    string
	reserved  int // reservations made and not yet used (approximate)
	// Messages started in the current and the previous minute window,
	// for the adaptive base of a destination without a configured rate.
	winStart  time.Time
	cur, prev int
}

// New returns a shaper with opts.
func New(opts Options) *Shaper {
	s := &Shaper{
		reacts:  opts.Reactions,
		lookup:  opts.Lookup,
		step:    opts.RecoverStep,
		log:     opts.Logger,
		dests:   map[string]*destState{},
		parked:  newParking(),
		res:     map[resKey]reservation{},
		reacted: map[string]uint64{},
	}
	if s.reacts == nil {
		s.reacts = DefaultReactions()
	}
	if s.step <= 0 {
		s.step = DefaultRecoverStep
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "shaping")
	for _, r := range opts.Rules {
		r = r.normalize()
		s.rules = append(s.rules, r)
		s.needsMX = s.needsMX || len(r.MXSuffixes) > 0
	}
	return s
}

// Resolve finds the budget of mail to domain (lower-case): a rule listing
// the domain, else a rule whose MX suffix covers the domain's primary MX
// host, else the domain's own.
func (s *Shaper) Resolve(ctx context.Context, domain string) Dest {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	for i := range s.rules {
		if s.rules[i].matchDomain(domain) {
			return s.rules[i].dest()
		}
	}
	d := Dest{Key: domain, Limits: Limits{Burst: 1}}
	if !s.needsMX || s.lookup == nil || domain == "" {
		return d
	}
	hosts, err := s.lookup(ctx, domain)
	if err != nil {
		d.MXError = err.Error()
		return d
	}
	if len(hosts) == 0 {
		return d
	}
	for i := range s.rules {
		if s.rules[i].matchMX(hosts[0]) {
			return s.rules[i].dest()
		}
	}
	return d
}

func (r *Rule) dest() Dest { return Dest{Key: r.Name, Rule: r.Name, Limits: r.Limits} }

// state returns d's live state, creating it.
func (s *Shaper) state(d Dest) *destState {
	st := s.dests[d.Key]
	if st == nil {
		st = &destState{dest: d}
		s.dests[d.Key] = st
	}
	return st
}

// Decision is the answer of Admit.
type Decision struct {
	// Go: deliver now; the caller must call Finish when done.
	Go bool
	// Park: every connection of the budget is in use; the message waits,
	// without a timer, until Finish wakes it (Parked reports it).
	Park bool
	// Until is, when neither, the time the group is deferred to (a rate
	// slot reserved for it, or the end of a suspension).
	Until time.Time
	// Wait says why it waits.
	Wait Wait
}

// Admit decides whether message id's group for d, of cost messages
// (transactions), may start at now.
func (s *Shaper) Admit(_ context.Context, d Dest, id string, cost int, now time.Time) Decision {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state(d)
	st.dest = d // a reload may have changed the rule's limits
	st.adapt.recover(now, s.step)
	rk := resKey{id, d.Key}
	if now.Before(st.suspUntil) {
		s.unreserve(st, rk)
		return Decision{Until: st.suspUntil, Wait: st.wait(WaitSuspended, st.suspUntil)}
	}
	r, reserved := s.res[rk]
	if reserved && r.gen != st.gen {
		s.unreserve(st, rk)
		reserved = false
	}
	if reserved && now.Before(r.at) {
		return Decision{Until: r.at, Wait: r.wait}
	}
	if c := d.Limits.Connections; c > 0 && st.inflight >= c {
		s.parked.park(id, d.Key)
		return Decision{Park: true, Wait: st.wait(WaitConnections, time.Time{})}
	}
	cost = max(cost, 1)
	if !reserved {
		at, kind := st.allowedAt(now)
		if at.After(now) {
			st.take(at, cost)
			w := st.wait(kind, at)
			s.res[rk] = reservation{at: at, gen: st.gen, wait: w}
			st.reserved++
			return Decision{Until: at, Wait: w}
		}
		st.take(now, cost)
	}
	s.unreserve(st, rk)
	st.inflight++
	st.count(now, cost)
	s.admitted++
	if s.admitted%1024 == 0 {
		s.sweep(now)
	}
	return Decision{Go: true}
}

func (s *Shaper) unreserve(st *destState, rk resKey) {
	if _, ok := s.res[rk]; ok {
		delete(s.res, rk)
		st.reserved = max(st.reserved-1, 0)
	}
}

// allowedAt is the earliest start of a message by every rate of st, and
// the kind of wait the latest one imposes.
func (st *destState) allowedAt(now time.Time) (time.Time, WaitKind) {
	at, kind := now, WaitRate
	l := st.dest.Limits
	burst := max(l.Burst, 1)
	if iv := interval(time.Minute, float64(l.PerMinute)); iv > 0 {
		if t := st.minute.allowedAt(now, iv, burst); t.After(at) {
			at = t
		}
	}
	if iv := interval(time.Hour, float64(l.PerHour)); iv > 0 {
		if t := st.hour.allowedAt(now, iv, burst); t.After(at) {
			at = t
		}
	}
	if st.adapt.active() {
		if t := st.adapt.g.allowedAt(now, interval(time.Minute, st.adapt.perMinute()), 1); t.After(at) {
			at, kind = t, WaitAdaptive
		}
	}
	return at, kind
}

// take starts cost messages at at on every rate of st.
func (st *destState) take(at time.Time, cost int) {
	l := st.dest.Limits
	if iv := interval(time.Minute, float64(l.PerMinute)); iv > 0 {
		st.minute.take(at, iv, cost)
	}
	if iv := interval(time.Hour, float64(l.PerHour)); iv > 0 {
		st.hour.take(at, iv, cost)
	}
	if st.adapt.active() {
		st.adapt.g.take(at, interval(time.Minute, st.adapt.perMinute()), cost)
	}
}

// Recheck is -1: every connection of a budget is this process's, so a
// parked message is always woken by a Finish (Shared rechecks).
func (s *Shaper) Recheck(time.Time) time.Duration { return -1 }

// Parked reports whether message id waits for a connection slot.
func (s *Shaper) Parked(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.parked.key(id)
	return ok
}

// Unpark drops id's wait for a connection (the operator flushed or
// deleted it): it is considered again at once.
func (s *Shaper) Unpark(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.parked.unpark(id)
}

// Finish ends a delivery Admit let go: it frees its connection, reacts to
// the first reply that matches the reaction table, and returns the parked
// messages to wake (one per freed connection, all when none is in use, so
// that a woken message that vanished cannot strand the rest).
func (s *Shaper) Finish(_ context.Context, d Dest, replies []Reply, now time.Time) (wake []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state(d)
	st.inflight = max(st.inflight-1, 0)
	for _, r := range replies {
		if s.react(st, r, now) {
			break
		}
	}
	n := 1
	if st.inflight == 0 {
		n = -1
	}
	return s.parked.wake(d.Key, n)
}

// react applies the first reaction matching r to st and reports whether
// one matched.
func (s *Shaper) react(st *destState, r Reply, now time.Time) bool {
	if x := s.match(r); x != nil {
		s.reacted[x.Name]++
		if st.apply(x, r, now, s.step) {
			s.void(st, now)
			s.log.Warn("destination throttled", "destination", st.dest.Key, "reaction", x.Name,
				"reply", r.String(), "per_minute", st.adapt.perMinute(), "suspended_until", st.suspUntil)
		}
		return true
	}
	return false
}

// match is the first reaction of s matching r, nil when none: only a 4xx
// reply slows a destination (a 5xx is final).
func (s *Shaper) match(r Reply) *Reaction {
	if r.Code/100 != 4 {
		return nil
	}
	for i := range s.reacts {
		if s.reacts[i].match(r) {
			return &s.reacts[i]
		}
	}
	return nil
}

// apply makes reaction x to reply r at now on st: a multiplicative
// decrease, and a suspension when x or the reply's text asks for one. It
// reports whether st changed (a reply within the hold-off of the last
// decrease and no longer suspension does not).
func (st *destState) apply(x *Reaction, r Reply, now time.Time, step time.Duration) bool {
	reply := r.String()
	l := st.dest.Limits
	base := float64(l.PerMinute)
	if base == 0 && l.PerHour > 0 {
		base = float64(l.PerHour) / 60
	}
	if base == 0 {
		base = max(st.observed(now), unlimitedBase)
	}
	dropped := st.adapt.drop(now, base, step/6, reply, x.Name)
	wait := replyWait(r.Text)
	if wait == 0 && x.Action == Suspend {
		wait = x.Suspend
	}
	if wait > 0 && now.Add(wait).After(st.suspUntil) {
		if !now.Before(st.suspUntil) {
			st.suspSince = now
		}
		st.suspUntil, st.suspReply, st.suspBy = now.Add(wait), reply, x.Name
		dropped = true
	}
	return dropped
}

// void cancels st's reservations (made at the rate before a reaction):
// their messages get new slots when they come due, and the configured
// rates forget the future those slots had taken, so the new slots are not
// counted after the void ones.
func (s *Shaper) void(st *destState, now time.Time) {
	st.gen++
	for k := range s.res {
		if k.key == st.dest.Key {
			delete(s.res, k)
		}
	}
	st.reserved = 0
	if st.minute.tat.After(now) {
		st.minute.tat = now
	}
	if st.hour.tat.After(now) {
		st.hour.tat = now
	}
}

// count records cost messages started at now in the per-minute windows.
func (st *destState) count(now time.Time, cost int) {
	switch d := now.Sub(st.winStart); {
	case d >= 2*time.Minute:
		st.prev, st.cur, st.winStart = 0, 0, now
	case d >= time.Minute:
		st.prev, st.cur, st.winStart = st.cur, 0, st.winStart.Add(time.Minute)
	}
	st.cur += cost
}

// observed is the rate st started messages at lately, per minute: the
// larger of the last full minute and the current one. A slow-down reply
// to a destination with no configured rate halves this (or unlimitedBase
// when higher).
func (st *destState) observed(now time.Time) float64 {
	if now.Sub(st.winStart) >= 2*time.Minute {
		return minPerMinute
	}
	return float64(max(st.prev, st.cur, 1))
}

// sweep forgets idle budgets and stale reservations (messages deleted
// while deferred), so memory follows the live destinations only.
func (s *Shaper) sweep(now time.Time) {
	for k, r := range s.res {
		if now.Sub(r.at) > time.Hour {
			delete(s.res, k)
			if st := s.dests[k.key]; st != nil {
				st.reserved = max(st.reserved-1, 0)
			}
		}
	}
	for k, st := range s.dests {
		if st.inflight == 0 && s.parked.count(k) == 0 && !st.adapt.active() && !now.Before(st.suspUntil) &&
			st.reserved == 0 && now.After(st.minute.tat) && now.After(st.hour.tat) {
			delete(s.dests, k)
		}
	}
}
