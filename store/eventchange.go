package store

import "time"

// Which events a change makes.
//
// The store derives the events from the change itself, recipient by
// recipient (matched by address), so that no caller can record an
// outcome and forget its event:
//
//	Enqueue                          accepted, for every recipient (and the
//	                                 event of a state it was enqueued in:
//	                                 a DSN or an import may be final already)
//	→ Delivered                      delivered
//	→ Bounced                        bounced, Class from its last attempt (BounceClass)
//	→ Held (from pending)            held
//	Held → Queued or Deferred        released
//	→ Deferred, or Deferred (or Held) with more attempts or a later
//	  NextAttempt                    deferred, with NextAttempt
//	DelayWarned set                  delay_warning, for every Deferred recipient
//	Delete                           deleted, for every recipient not final
//
// Reply, RemoteHost and TLS come from the attempt the change appended to
// the recipient's History, or, with none, Reply.Text from LastReply.
//
// The caller may describe the change further in Message.Events (never
// persisted): an event there with the Type and Recipient of a derived one
// lends it its non-zero Class, Reply, RemoteHost, TLS and NextAttempt (a
// suppressed bounce says Class "suppressed"); one matching none is written
// as it is, after the derived ones. Delay warnings listed there replace
// the derived ones (the caller knows whom the warning reported).

// DeriveEvents is the events of the change from before to after (nil
// before: Enqueue; nil after: Delete), stamped with now and not yet
// numbered (Seq 0). Pure: every backend writes what it returns in the
// transaction that records the change.
func DeriveEvents(before, after *Message, now time.Time) []Event {
	if after == nil {
		var evs []Event
		for i := range before.Recipients {
			if r := &before.Recipients[i]; !r.State.Final() {
				evs = append(evs, Event{Type: EventDeleted, Recipient: r.Addr, Attempt: r.Attempts})
			}
		}
		return stamp(evs, before, now)
	}
	prior := make(map[string]*Recipient)
	if before != nil {
		for i := range before.Recipients {
			if r := &before.Recipients[i]; prior[r.Addr] == nil {
				prior[r.Addr] = r
			}
		}
	}
	var evs []Event
	for i := range after.Recipients {
		a := &after.Recipients[i]
		b := prior[a.Addr]
		if before == nil {
			evs = append(evs, Event{Type: EventAccepted, Recipient: a.Addr, Attempt: a.Attempts})
			b = &Recipient{Addr: a.Addr, State: StateQueued}
		}
		if b == nil {
			continue // not a recipient before: Update never adds one
		}
		if e, ok := recipientEvent(b, a); ok {
			evs = append(evs, e)
		}
	}
	if before != nil && !before.DelayWarned && after.DelayWarned && !hasType(after.Events, EventDelay) {
		for i := range after.Recipients {
			if r := &after.Recipients[i]; r.State == StateDeferred {
				evs = append(evs, Event{Type: EventDelay, Recipient: r.Addr, Attempt: r.Attempts, NextAttempt: r.NextAttempt})
			}
		}
	}
	return stamp(merge(evs, after), after, now)
}

// recipientEvent is the event of one recipient's change from b to a, if
// the change makes one.
func recipientEvent(b, a *Recipient) (Event, bool) {
	e := Event{Recipient: a.Addr, Attempt: a.Attempts}
	switch {
	case a.State == StateDelivered && b.State != StateDelivered:
		e.Type = EventDelivered
	case a.State == StateBounced && b.State != StateBounced:
		e.Type = EventBounced
	case a.State == StateHeld && b.State != StateHeld:
		e.Type = EventHeld
		return e, true
	case b.State == StateHeld && (a.State == StateQueued || a.State == StateDeferred):
		e.Type = EventReleased
		return e, true
	case a.State == StateDeferred && (b.State != StateDeferred || a.Attempts > b.Attempts || a.NextAttempt.After(b.NextAttempt)),
		a.State == StateHeld && a.Attempts > b.Attempts:
		// A deferral, with or without an attempt (a destination backed
		// off); an attempt made while an operator held the recipient.
		e.Type, e.NextAttempt = EventDeferred, a.NextAttempt
	default:
		return e, false
	}
	if at, ok := newAttempt(b, a); ok {
		e.Reply = Reply{Code: at.Code, Enhanced: at.Enhanced, Text: at.Reply}
		e.RemoteHost, e.TLS = at.Host, at.TLS
		e.TLSVerifiedBy, e.TLSPolicy, e.TLSFailure = at.TLSInfo.VerifiedBy, at.TLSInfo.Policy, at.TLSInfo.Failure
	} else {
		e.Reply = Reply{Text: a.LastReply}
	}
	if e.Type == EventBounced {
		e.Class = BounceClass(e.Reply.Code, e.Reply.Enhanced)
	}
	return e, true
}

// newAttempt is the attempt the change from b to a appended to the
// recipient's History, if any.
func newAttempt(b, a *Recipient) (Attempt, bool) {
	if len(a.History) == 0 {
		return Attempt{}, false
	}
	last := a.History[len(a.History)-1]
	if n := len(b.History); n > 0 {
		p := b.History[n-1]
		if p.Time.Equal(last.Time) && p.Reply == last.Reply && p.Code == last.Code && p.Result == last.Result {
			return Attempt{}, false
		}
	}
	return last, true
}

// merge lends the caller's events in after.Events to the derived events
// they describe and appends the ones that describe none.
func merge(evs []Event, after *Message) []Event {
	derived := len(evs)
	used := make([]bool, derived)
	for _, x := range after.Events {
		k := -1
		for i := range derived {
			if !used[i] && evs[i].Type == x.Type && evs[i].Recipient == x.Recipient {
				k = i
				break
			}
		}
		if k < 0 {
			if x.Attempt == 0 {
				for i := range after.Recipients {
					if after.Recipients[i].Addr == x.Recipient {
						x.Attempt = after.Recipients[i].Attempts
						break
					}
				}
			}
			evs = append(evs, x)
			continue
		}
		used[k] = true
		d := &evs[k]
		if x.Class != "" {
			d.Class = x.Class
		}
		if x.Reply != (Reply{}) {
			d.Reply = x.Reply
		}
		if x.RemoteHost != "" {
			d.RemoteHost = x.RemoteHost
		}
		if x.TLS != "" {
			d.TLS = x.TLS
		}
		if !x.NextAttempt.IsZero() {
			d.NextAttempt = x.NextAttempt
		}
	}
	return evs
}

func hasType(evs []Event, t EventType) bool {
	for i := range evs {
		if evs[i].Type == t {
			return true
		}
	}
	return false
}

// stamp fills in what every event of m's change shares.
func stamp(evs []Event, m *Message, now time.Time) []Event {
	for i := range evs {
		e := &evs[i]
		e.Time, e.QueueID, e.MessageID, e.From = now, m.ID, m.MessageID, m.From
		e.Tags, e.Metadata, e.User = m.Tags, m.Metadata, m.User
	}
	return evs
}
