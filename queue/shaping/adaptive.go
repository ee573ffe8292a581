package shaping

import "time"

// Constants of the adaptive reaction.
const (
	// decrease is the multiplicative decrease of a slow-down reply.
	decrease = 0.5
	// increase is the additive increase per recovery step, as a fraction
	// of the base rate: five quiet steps undo one halving.
	increase = 0.1
	// minPerMinute is the floor of an adaptive rate: a destination is
	// never slowed below one message a minute (suspension stops it).
	minPerMinute = 1.0
	// minFactor bounds the decreases (six halvings), so that ten quiet
	// steps always make the rate whole again.
	minFactor = 1.0 / 64
	// unlimitedBase is the least base of a destination without a
	// configured rate: the rate it was sending at may be a handful of
	// messages, and halving that would stall it for minutes.
	unlimitedBase = 60.0
	// DefaultRecoverStep is the time between two additive increases.
	DefaultRecoverStep = time.Minute
)

// gcra is one rate limit as the generic cell rate algorithm keeps it: the
// theoretical arrival time of the next message. A message may start at now
// when tat - now <= tau, tau = (burst-1)·interval; starting it advances tat
// by interval per message.
type gcra struct{ tat time.Time }

// allowedAt is the earliest time from now a message may start.
func (g *gcra) allowedAt(now time.Time, interval time.Duration, burst int) time.Time {
	tau := time.Duration(burst-1) * interval
	if at := g.tat.Add(-tau); at.After(now) {
		return at
	}
	return now
}

// take starts cost messages at at.
func (g *gcra) take(at time.Time, interval time.Duration, cost int) {
	if g.tat.Before(at) {
		g.tat = at
	}
	g.tat = g.tat.Add(time.Duration(cost) * interval)
}

// interval is the spacing of rate messages per period; 0 when no limit.
func interval(period time.Duration, rate float64) time.Duration {
	if rate <= 0 {
		return 0
	}
	return time.Duration(float64(period) / rate)
}

// adaptive is a destination's state after slow-down replies: its rate is
// base·factor messages a minute while factor < 1 (active).
type adaptive struct {
	factor   float64   // 0 when inactive
	base     float64   // messages per minute the factor applies to
	since    time.Time // first decrease of this episode
	changed  time.Time // last decrease or increase
	lastDrop time.Time // last decrease, for the hold-off
	reply    string    // the reply of the last decrease
	reaction string    // its table row
	g        gcra
}

func (a *adaptive) active() bool { return a.factor > 0 }

// perMinute is the rate in effect.
func (a *adaptive) perMinute() float64 { return max(a.base*a.factor, minPerMinute) }

// recover applies the additive increases due by now; a factor back at 1
// ends the episode.
func (a *adaptive) recover(now time.Time, step time.Duration) {
	if !a.active() || step <= 0 {
		return
	}
	n := now.Sub(a.changed) / step
	if n <= 0 {
		return
	}
	a.factor += increase * float64(n)
	a.changed = a.changed.Add(n * step)
	if a.factor >= 1 {
		*a = adaptive{}
	}
}

// drop applies one multiplicative decrease from base (when the episode
// starts) and reports whether it did: replies within holdoff of the last
// decrease are one signal, so a burst of concurrent 421s halves the rate
// once, not once per connection (as TCP halves once per window).
func (a *adaptive) drop(now time.Time, base float64, holdoff time.Duration, reply, reaction string) bool {
	if a.active() && now.Sub(a.lastDrop) < holdoff {
		return false
	}
	if !a.active() {
		*a = adaptive{factor: 1, base: max(base, minPerMinute), since: now}
	}
	a.factor = max(a.factor*decrease, minFactor)
	a.changed, a.lastDrop, a.reply, a.reaction = now, now, reply, reaction
	// The next message waits one interval at the new rate: the reply just
	// said the last one was one too many.
	a.g.tat = now.Add(interval(time.Minute, a.perMinute()))
	return true
}
