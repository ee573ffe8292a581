package queue

import "github.com/outbox-mta/outbox/store"

// The event log (store/events.go) is written by the store, which derives
// each recipient's event from the change an Update records: the
// delivered, deferred and bounced events of an attempt come with the
// reply, host, TLS and attempt number of the History entry appended here
// (applyOutcome), and a bounce's class from that entry's codes
// (store.BounceClass: an expiry is 4.4.7 with no SMTP code, expiryAttempt).
// What the change cannot show is described in store.Message.Events.

// describeDelay lists, on the message an Update is changing, the
// recipients a delay warning reported, so their delay_warning events name
// those and no others (NOTIFY, RFC 3461 §4.1, may leave some out).
func describeDelay(sm *store.Message, rcpts []store.Recipient) {
	for i := range rcpts {
		sm.Events = append(sm.Events, store.Event{
			Type: store.EventDelay, Recipient: rcpts[i].Addr, NextAttempt: rcpts[i].NextAttempt,
		})
	}
}
