package queue

import (
	"github.com/outbox-mta/outbox/delivery/tlspolicy"
	"github.com/outbox-mta/outbox/store"
)

// attemptTLS is the stored form of an attempt's TLS outcome; zero when the
// attempt recorded none (no session and no policy).
func attemptTLS(o tlspolicy.Outcome) store.AttemptTLS {
	if o == (tlspolicy.Outcome{}) {
		return store.AttemptTLS{}
	}
	t := store.AttemptTLS{VerifiedBy: o.VerifiedBy.String(), Failure: string(o.Failure)}
	if o.Policy != tlspolicy.TypeNone {
		t.Policy = o.Policy.String() + " " + o.Mode.String() + " " + o.Domain
	}
	// Detail starts with the result type (tlspolicy.Failure.Error).
	if o.Detail != "" {
		t.Failure = o.Detail
	}
	return t
}
