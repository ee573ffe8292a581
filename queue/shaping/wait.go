package shaping

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// WaitKind is why the shaper holds a message back.
type WaitKind uint8

// Kinds of wait.
const (
	// WaitRate: the destination's configured rate (per minute, per hour)
	// has no free slot before Until.
	WaitRate WaitKind = iota + 1
	// WaitAdaptive: the destination's rate was lowered after a slow-down
	// reply (Reply, Since) and has no free slot before Until.
	WaitAdaptive
	// WaitSuspended: a reply suspended the destination until Until.
	WaitSuspended
	// WaitConnections: every connection the destination allows is in use.
	WaitConnections
	// WaitUnavailable: the budget is shared through a ledger that could
	// not be read (Shared): the message is deferred rather than risk
	// exceeding the budget.
	WaitUnavailable
)

func (k WaitKind) String() string {
	switch k {
	case WaitRate:
		return "rate-limited"
	case WaitAdaptive:
		return "throttled"
	case WaitSuspended:
		return "suspended"
	case WaitConnections:
		return "connection-limited"
	case WaitUnavailable:
		return "shaping-unavailable"
	}
	return "unknown"
}

// Wait explains one hold-back: which budget, why, until when, and the
// reply that caused it.
type Wait struct {
	Kind  WaitKind
	Key   string // the budget: rule name or domain
	Rule  string // "" when no rule matched
	Until time.Time
	// Since is when the destination was slowed or suspended; zero for a
	// configured rate or the connection limit.
	Since time.Time
	// Reply is the remote reply that slowed or suspended it, Reaction the
	// table row it matched.
	Reply, Reaction string
	// PerMinute is the rate in effect (configured or adaptive); 0 none.
	PerMinute float64
	// InFlight and Connections are the deliveries in progress and the
	// limit, for WaitConnections.
	InFlight, Connections int
	// Shared: the budget is every node's (Shared), not this process's.
	Shared bool
}

// wait describes st's state as a wait of kind until until; st's lock is
// held.
func (st *destState) wait(kind WaitKind, until time.Time) Wait {
	w := Wait{Kind: kind, Key: st.dest.Key, Rule: st.dest.Rule, Until: until,
		InFlight: st.inflight, Connections: st.dest.Limits.Connections}
	if pm := st.dest.Limits.PerMinute; pm > 0 {
		w.PerMinute = float64(pm)
	} else if ph := st.dest.Limits.PerHour; ph > 0 {
		w.PerMinute = float64(ph) / 60
	}
	switch kind {
	case WaitSuspended:
		w.Since, w.Reply, w.Reaction = st.suspSince, st.suspReply, st.suspBy
	case WaitAdaptive:
		w.Since, w.Reply, w.Reaction = st.adapt.since, st.adapt.reply, st.adapt.reaction
		w.PerMinute = st.adapt.perMinute()
	}
	return w
}

// Sentence is w in words an operator can act on.
func (w Wait) Sentence() string {
	at := w.Until.UTC().Format(time.RFC3339)
	budget := "destination " + w.Key
	if w.Rule != "" {
		budget = "destination " + w.Key + " (rule " + w.Rule + ")"
	}
	if w.Shared {
		budget += ", a budget shared by every node,"
	}
	switch w.Kind {
	case WaitRate:
		return fmt.Sprintf("%s is rate-limited to %s; this message has the slot at %s (raise the rule's per_minute/per_hour to send faster)",
			budget, rate(w.PerMinute), at)
	case WaitAdaptive:
		return fmt.Sprintf("%s answered %q at %s, so Outbox slowed it to %s (it speeds up again while no such reply comes); slot at %s",
			budget, w.Reply, w.Since.UTC().Format(time.RFC3339), rate(w.PerMinute), at)
	case WaitSuspended:
		return fmt.Sprintf("%s is suspended until %s: it answered %q at %s (reaction %s); nothing is sent to it before then",
			budget, at, w.Reply, w.Since.UTC().Format(time.RFC3339), w.Reaction)
	case WaitConnections:
		return fmt.Sprintf("%s has all %d of its connections in use; this message goes when one frees (raise the rule's connections to send more at once)",
			budget, w.Connections)
	case WaitUnavailable:
		return fmt.Sprintf("%s: its shared state in the database could not be read (%s), so nothing is sent to it before %s rather than risk exceeding its limits",
			budget, w.Reply, at)
	}
	return budget + " holds it back"
}

func rate(perMinute float64) string {
	switch {
	case perMinute <= 0:
		return "no rate limit"
	case perMinute >= 1:
		return fmt.Sprintf("%.4g messages/minute", perMinute)
	}
	return fmt.Sprintf("%.4g messages/hour", perMinute*60)
}

// Status is one destination the shaper holds back now, for stats.
type Status struct {
	Key, Rule string
	// State is "suspended", "throttled" (adaptive rate lowered) or
	// "rate-limited" (messages deferred to slots of a configured rate).
	State string
	Since time.Time
	// Until is the end of a suspension; zero otherwise.
	Until           time.Time
	Reply, Reaction string
	PerMinute       float64 // rate in effect
	InFlight        int
	Parked          int // waiting for a connection
	Reserved        int // deferred to a rate slot
	// Shared: Since, Until, the rate and InFlight are every node's
	// (Shared); Parked and Reserved this node's.
	Shared bool
}

// Statuses lists the destinations held back at now: suspended, slowed, or
// with messages waiting for a slot or a connection, by key.
func (s *Shaper) Statuses(_ context.Context, now time.Time) []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Status
	for _, st := range s.dests {
		st.adapt.recover(now, s.step)
		var state string
		var w Wait
		switch {
		case now.Before(st.suspUntil):
			state, w = "suspended", st.wait(WaitSuspended, st.suspUntil)
		case st.adapt.active():
			state, w = "throttled", st.wait(WaitAdaptive, time.Time{})
		case st.reserved > 0 && (st.minute.tat.After(now) || st.hour.tat.After(now)):
			state, w = "rate-limited", st.wait(WaitRate, time.Time{})
		case s.parked.count(st.dest.Key) > 0:
			state, w = "connection-limited", st.wait(WaitConnections, time.Time{})
		default:
			continue
		}
		out = append(out, Status{Key: st.dest.Key, Rule: st.dest.Rule, State: state, Since: w.Since,
			Until: w.Until, Reply: w.Reply, Reaction: w.Reaction, PerMinute: w.PerMinute,
			InFlight: st.inflight, Parked: s.parked.count(st.dest.Key), Reserved: st.reserved})
	}
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// Reserved returns the wait of message id's group for key, when it was
// deferred to a rate slot or a suspension that still holds at now.
func (s *Shaper) Reserved(_ context.Context, id, key string, now time.Time) (Wait, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.dests[key]
	if st == nil {
		return Wait{}, false
	}
	if now.Before(st.suspUntil) {
		return st.wait(WaitSuspended, st.suspUntil), true
	}
	r, ok := s.res[resKey{id, key}]
	if !ok || r.gen != st.gen || !now.Before(r.at) {
		return Wait{}, false
	}
	return r.wait, true
}

// ParkedWait returns the wait of a message parked for a connection.
func (s *Shaper) ParkedWait(id string) (Wait, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key, ok := s.parked.key(id)
	if !ok {
		return Wait{}, false
	}
	st := s.dests[key]
	if st == nil {
		return Wait{}, false
	}
	return st.wait(WaitConnections, time.Time{}), true
}

// Reactions counts, per reaction name, the replies acted on.
func (s *Shaper) Reactions() map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]uint64, len(s.reacted))
	for k, v := range s.reacted {
		out[k] = v
	}
	return out
}
