package shaping

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults of SharedOptions.
const (
	// DefaultRecheck is how long a message waits for a connection that
	// another node holds before it asks again.
	DefaultRecheck = 500 * time.Millisecond
	// DefaultUnavailableRetry is how long a message is deferred when the
	// ledger cannot be read.
	DefaultUnavailableRetry = 30 * time.Second
)

// SharedOptions configure NewShared: Options, and the ledger.
type SharedOptions struct {
	Options
	// Ledger keeps the budgets every node shares. Required.
	Ledger Ledger
	// Recheck is the wait of a message parked for a connection that only
	// other nodes hold (no Finish of this node will wake it); default
	// DefaultRecheck.
	Recheck time.Duration
	// UnavailableRetry is how long a message is deferred when the ledger
	// fails; default DefaultUnavailableRetry.
	UnavailableRetry time.Duration
}

// Shared is the traffic shaper of several nodes on one database: the
// budgets (rate slots, adaptive slow-downs, suspensions, connections) are
// kept in a Ledger, so N nodes together hold one budget per destination.
// The rate slots reserved for messages are kept there too, so that
// whichever node claims a message when its slot comes starts it then.
// What only this node knows stays in memory: the messages it parked and
// the connection slots it holds.
//
// A ledger it cannot read or write defers the message (WaitUnavailable):
// a budget is never exceeded because the database is away.
type Shared struct {
	base    *Shaper // rules, reactions, step, logger, counters
	ledger  Ledger
	recheck time.Duration
	retry   time.Duration

	mu     sync.Mutex
	local  map[string]*sharedLocal
	parked parking
	// Recheck's schedule: the earliest recheckAt of a budget (zero:
	// none), the next sweep of idle budgets, and the earlier of both.
	nextRecheck, sweepAt, nextScan time.Time
}

// sharedLocal is this node's part of one budget.
type sharedLocal struct {
	dest      Dest
	slots     []int64 // connection slots held, one per delivery in progress
	recheckAt time.Time
	conns     int // every node's connections at the last look
	// observed counts the messages this node started to a budget
	// without a configured rate, which the ledger does not count
	// (admitUnlimited): the base of its adaptive rate when slowed.
	observed destState
}

// NewShared returns a shaper keeping its budgets in opts.Ledger.
func NewShared(opts SharedOptions) (*Shared, error) {
	if opts.Ledger == nil {
		return nil, errors.New("shaping: a shared shaper needs a ledger")
	}
	s := &Shared{base: New(opts.Options), ledger: opts.Ledger, recheck: opts.Recheck, retry: opts.UnavailableRetry,
		local: map[string]*sharedLocal{}, parked: newParking()}
	if s.recheck <= 0 {
		s.recheck = DefaultRecheck
	}
	if s.retry <= 0 {
		s.retry = DefaultUnavailableRetry
	}
	return s, nil
}

// Resolve finds the budget of mail to domain, as Shaper.Resolve.
func (s *Shared) Resolve(ctx context.Context, domain string) Dest { return s.base.Resolve(ctx, domain) }

func (s *Shared) loc(d Dest) *sharedLocal {
	l := s.local[d.Key]
	if l == nil {
		l = &sharedLocal{}
		s.local[d.Key] = l
	}
	l.dest = d
	return l
}

// Admit decides, as Shaper.Admit does, whether message id's group may
// start at now, against the budget every node shares: one transaction on
// the ledger takes a rate slot and a connection together. A rate slot
// reserved for the message is kept in the ledger too, so that whichever
// node claims the message when it comes due starts it in that slot.
func (s *Shared) Admit(ctx context.Context, d Dest, id string, cost int, now time.Time) Decision {
	cost = max(cost, 1)
	if dec, ok := s.admitUnlimited(ctx, d, id, cost, now); ok {
		return dec
	}
	var dec Decision
	slot, err := s.ledger.Update(ctx, d.Key, id, func(rec, resv []byte, dbNow time.Time, conns int) ([]byte, []byte, bool, error) {
		st, err := decodeState(d, rec, conns)
		if err != nil {
			return nil, nil, false, err
		}
		off := now.Sub(dbNow) // the caller's clock minus the ledger's
		st.adapt.recover(dbNow, s.base.step)
		r, reserved := decodeReservation(resv)
		reserved = reserved && r.Gen == st.gen // a reaction voided older ones
		switch {
		case dbNow.Before(st.suspUntil):
			dec = Decision{Until: st.suspUntil.Add(off), Wait: shiftWait(st.wait(WaitSuspended, st.suspUntil), off)}
			return nil, nil, false, nil
		case reserved && dbNow.Before(r.At):
			dec = Decision{Until: r.At.Add(off), Wait: shiftWait(r.Wait, off)}
			return nil, resv, false, nil
		case d.Limits.Connections > 0 && conns >= d.Limits.Connections:
			dec = Decision{Park: true, Wait: shared(st.wait(WaitConnections, time.Time{}))}
			return nil, resv, false, nil
		}
		if !reserved {
			at, kind := st.allowedAt(dbNow)
			if at.After(dbNow) {
				st.take(at, cost)
				w := st.wait(kind, at)
				dec = Decision{Until: at.Add(off), Wait: shiftWait(w, off)}
				return st.encode(), resRecord{At: at, Gen: st.gen, Wait: w}.encode(), false, nil
			}
			st.take(dbNow, cost)
		}
		st.count(dbNow, cost)
		dec = Decision{Go: true}
		return st.encode(), nil, true, nil
	})
	if err != nil {
		return s.unavailable(ctx, d, id, now, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.loc(d)
	switch {
	case dec.Go:
		l.slots = append(l.slots, slot)
		s.base.mu.Lock()
		s.base.admitted++
		s.base.mu.Unlock()
	case dec.Park:
		l.conns = dec.Wait.InFlight
		s.parked.park(id, d.Key)
		if len(l.slots) == 0 {
			s.rechecking(l, now) // no Finish of ours will wake it
		}
	}
	return dec
}

// admitUnlimited is Admit's read-only path for a budget with no
// configured limit (a domain no rule matches: most of them): unless a
// reply slowed or suspended it, nothing is reserved or counted in the
// ledger, so one read decides, and none when the ledger knows the budget
// has no record (RecordlessLedger). ok is false when the full admission must
// decide (the budget is slowed: its adaptive rate takes slots).
func (s *Shared) admitUnlimited(ctx context.Context, d Dest, id string, cost int, now time.Time) (Decision, bool) {
	l := d.Limits
	if l.Connections > 0 || l.PerMinute > 0 || l.PerHour > 0 {
		return Decision{}, false
	}
	if rl, ok := s.ledger.(RecordlessLedger); ok && rl.Recordless(d.Key) {
		return s.goUnlimited(d, cost, now), true
	}
	rec, _, dbNow, conns, err := s.ledger.Get(ctx, d.Key, "")
	if err != nil {
		return s.unavailable(ctx, d, id, now, err), true
	}
	st, err := decodeState(d, rec, conns)
	if err != nil {
		return s.unavailable(ctx, d, id, now, err), true
	}
	st.adapt.recover(dbNow, s.base.step)
	if dbNow.Before(st.suspUntil) {
		off := now.Sub(dbNow)
		return Decision{Until: st.suspUntil.Add(off), Wait: shiftWait(st.wait(WaitSuspended, st.suspUntil), off)}, true
	}
	if st.adapt.active() {
		return Decision{}, false
	}
	return s.goUnlimited(d, cost, now), true
}

// goUnlimited lets a message to unlimited budget d go, counted here only.
func (s *Shared) goUnlimited(d Dest, cost int, now time.Time) Decision {
	s.mu.Lock()
	defer s.mu.Unlock()
	loc := s.loc(d)
	loc.slots = append(loc.slots, 0) // no slot in the ledger: none to give back
	loc.observed.count(now, cost)
	return Decision{Go: true}
}

// unavailable is the decision when the ledger fails: defer, never go.
func (s *Shared) unavailable(ctx context.Context, d Dest, id string, now time.Time, err error) Decision {
	until := now.Add(s.retry)
	if ctx.Err() == nil {
		s.base.log.Warn("shared traffic shaping state unavailable; deferring", "destination", d.Key, "msgid", id, "err", err, "until", until)
	}
	return Decision{Until: until, Wait: Wait{Kind: WaitUnavailable, Key: d.Key, Rule: d.Rule, Until: until,
		Reply: err.Error(), Shared: true}}
}

// shiftWait moves w's times from the ledger's clock by off.
func shiftWait(w Wait, off time.Duration) Wait {
	if !w.Until.IsZero() {
		w.Until = w.Until.Add(off)
	}
	if !w.Since.IsZero() {
		w.Since = w.Since.Add(off)
	}
	return shared(w)
}

func shared(w Wait) Wait { w.Shared = true; return w }

// Finish ends a delivery Admit let go: it gives back its connection slot,
// applies the first reply that matches the reaction table to the shared
// budget (every node then slows down or suspends), and returns the parked
// messages to wake. A slot that cannot be given back expires by itself
// (the ledger stops renewing it).
func (s *Shared) Finish(ctx context.Context, d Dest, replies []Reply, now time.Time) (wake []string) {
	s.mu.Lock()
	l := s.loc(d)
	var slot int64
	if n := len(l.slots); n > 0 {
		slot, l.slots = l.slots[n-1], l.slots[:n-1]
	}
	s.mu.Unlock()
	if slot != 0 {
		if err := s.ledger.Release(ctx, slot); err != nil {
			s.base.log.Warn("releasing a shared connection slot; it expires by itself", "destination", d.Key, "err", err)
		}
	}
	for _, r := range replies {
		if x := s.base.match(r); x != nil {
			s.react(ctx, d, x, r, now)
			break
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	wake = s.parked.wake(d.Key, 1)
	if len(l.slots) == 0 && s.parked.count(d.Key) > 0 {
		s.rechecking(l, now)
	}
	return wake
}

// react applies reaction x to reply r, received at at (the caller's
// clock), on d's shared budget.
func (s *Shared) react(ctx context.Context, d Dest, x *Reaction, r Reply, at time.Time) {
	s.base.mu.Lock()
	s.base.reacted[x.Name]++
	s.base.mu.Unlock()
	s.mu.Lock()
	observed := s.loc(d).observed // in this node's clock
	s.mu.Unlock()
	var st *destState
	changed := false
	_, err := s.ledger.Update(ctx, d.Key, "", func(rec, _ []byte, now time.Time, conns int) ([]byte, []byte, bool, error) {
		var err error
		if st, err = decodeState(d, rec, conns); err != nil {
			return nil, nil, false, err
		}
		st.adapt.recover(now, s.base.step)
		if !st.adapt.active() && st.cur == 0 && st.prev == 0 {
			// Not counted in the ledger (admitUnlimited): this node's count.
			st.winStart, st.cur, st.prev = observed.winStart.Add(now.Sub(at)), observed.cur, observed.prev
		}
		if changed = st.apply(x, r, now, s.base.step); !changed {
			return nil, nil, false, nil
		}
		// Void the reservations made at the old rate (every node's: they
		// compare their generation), as Shaper.void does.
		st.gen++
		st.minute.tat = minTime(st.minute.tat, now)
		st.hour.tat = minTime(st.hour.tat, now)
		return st.encode(), nil, false, nil
	})
	if err != nil {
		s.base.log.Warn("recording a slow-down reply in the shared state", "destination", d.Key, "reaction", x.Name, "err", err)
		return
	}
	if !changed {
		return // a reply within the hold-off: one signal, already applied
	}
	s.base.log.Warn("destination throttled", "destination", d.Key, "reaction", x.Name, "reply", r.String(),
		"per_minute", st.adapt.perMinute(), "suspended_until", st.suspUntil, "shared", true)
}

func minTime(a, b time.Time) time.Time {
	if a.After(b) {
		return b
	}
	return a
}

// Recheck unparks the messages parked for connections that only other nodes
// hold, once their recheck time has come (as many as the budget has
// connections, not all: the first to go wakes the next when it ends), and
// returns the wait until the next recheck; negative when none.
func (s *Shared) Recheck(now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	// The dispatcher calls this at every look: scan only when a recheck
	// is due, or for the minutely sweep of idle budgets.
	if now.Before(s.nextScan) {
		if s.nextRecheck.IsZero() {
			return -1
		}
		return s.nextRecheck.Sub(now)
	}
	wait := time.Duration(-1)
	sweep := !now.Before(s.sweepAt)
	if sweep {
		s.sweepAt = now.Add(time.Minute)
	}
	for key, l := range s.local {
		if l.recheckAt.IsZero() {
			if sweep && len(l.slots) == 0 && s.parked.count(key) == 0 && now.Sub(l.observed.winStart) >= 2*time.Minute {
				delete(s.local, key) // idle, its observed rate no longer counts
			}
			continue
		}
		if now.Before(l.recheckAt) {
			if d := l.recheckAt.Sub(now); wait < 0 || d < wait {
				wait = d
			}
			continue
		}
		l.recheckAt = time.Time{}
		s.parked.wake(key, max(l.dest.Limits.Connections, 1))
	}
	s.nextScan, s.nextRecheck = s.sweepAt, time.Time{}
	if wait >= 0 {
		s.nextRecheck = now.Add(wait)
		s.nextScan = minTime(s.nextScan, s.nextRecheck)
	}
	return wait
}

// rechecking arms a recheck of l at now+Recheck; s.mu is held.
func (s *Shared) rechecking(l *sharedLocal, now time.Time) {
	if !l.recheckAt.IsZero() {
		return
	}
	l.recheckAt = now.Add(s.recheck)
	s.nextScan = minTime(s.nextScan, l.recheckAt)
	if s.nextRecheck.IsZero() || l.recheckAt.Before(s.nextRecheck) {
		s.nextRecheck = l.recheckAt
	}
}

// Parked reports whether message id waits for a connection.
func (s *Shared) Parked(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.parked.key(id)
	return ok
}

// Unpark drops id's wait for a connection.
func (s *Shared) Unpark(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.parked.unpark(id)
}

// Reserved returns the wait of message id's group for key: the shared
// suspension when one holds, else the rate slot reserved for it (by any
// node).
func (s *Shared) Reserved(ctx context.Context, id, key string, now time.Time) (Wait, bool) {
	s.mu.Lock()
	d := Dest{Key: key}
	if l := s.local[key]; l != nil {
		d = l.dest
	}
	s.mu.Unlock()
	rec, resv, dbNow, conns, err := s.ledger.Get(ctx, key, id)
	if err != nil {
		return Wait{}, false
	}
	off := now.Sub(dbNow)
	st, err := decodeState(d, rec, conns)
	if err != nil {
		return Wait{}, false
	}
	if dbNow.Before(st.suspUntil) {
		return shiftWait(st.wait(WaitSuspended, st.suspUntil), off), true
	}
	r, ok := decodeReservation(resv)
	if !ok || r.Gen != st.gen || !dbNow.Before(r.At) {
		return Wait{}, false
	}
	return shiftWait(r.Wait, off), true
}

// ParkedWait returns the wait of a message parked for a connection.
func (s *Shared) ParkedWait(id string) (Wait, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key, ok := s.parked.key(id)
	if !ok {
		return Wait{}, false
	}
	l := s.local[key]
	w := Wait{Kind: WaitConnections, Key: key, Rule: l.dest.Rule, InFlight: l.conns,
		Connections: l.dest.Limits.Connections, Shared: true}
	return w, true
}

// Statuses lists the destinations held back at now, by every node: the
// shared suspensions and slow-downs, with this node's parked and reserved
// messages. A ledger that fails lists what this node knows.
func (s *Shared) Statuses(ctx context.Context, now time.Time) []Status {
	s.mu.Lock()
	local := map[string]sharedLocal{}
	parked := map[string]int{}
	for k, l := range s.local {
		local[k], parked[k] = *l, s.parked.count(k)
	}
	s.mu.Unlock()
	var out []Status
	seen := map[string]bool{}
	err := s.ledger.List(ctx, func(dbNow time.Time, key string, rec []byte, conns, reserved int) {
		l := local[key]
		d := l.dest
		d.Key = key
		st, err := decodeState(d, rec, conns)
		if err != nil {
			return
		}
		seen[key] = true
		st.adapt.recover(dbNow, s.base.step)
		off := now.Sub(dbNow)
		var w Wait
		var state string
		switch {
		case dbNow.Before(st.suspUntil):
			state, w = "suspended", shiftWait(st.wait(WaitSuspended, st.suspUntil), off)
		case st.adapt.active():
			state, w = "throttled", shiftWait(st.wait(WaitAdaptive, time.Time{}), off)
		case reserved > 0 && (st.minute.tat.After(dbNow) || st.hour.tat.After(dbNow)):
			state, w = "rate-limited", shiftWait(st.wait(WaitRate, time.Time{}), off)
		case parked[key] > 0:
			state, w = "connection-limited", st.wait(WaitConnections, time.Time{})
		default:
			return
		}
		out = append(out, Status{Key: key, Rule: d.Rule, State: state, Since: w.Since, Until: w.Until,
			Reply: w.Reply, Reaction: w.Reaction, PerMinute: w.PerMinute, InFlight: conns,
			Parked: parked[key], Reserved: reserved, Shared: true})
	})
	if err != nil {
		s.base.log.Warn("listing the shared traffic shaping state", "err", err)
	}
	for k, l := range local {
		if !seen[k] && parked[k] > 0 {
			out = append(out, Status{Key: k, Rule: l.dest.Rule, State: "connection-limited",
				InFlight: l.conns, Parked: parked[k], Shared: true})
		}
	}
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// Reactions counts, per reaction name, the replies this node acted on.
func (s *Shared) Reactions() map[string]uint64 { return s.base.Reactions() }
