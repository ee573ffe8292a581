package queue

import (
	"strings"

	"github.com/outbox-mta/outbox/delivery"
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

// expiryEnhanced is the status of a recipient given up on after last: a
// security failure (4.7.x: a TLS policy not met, which RFC 8461 §5.1 and
// RFC 7672 §2.2 make temporary) ends as its permanent form, 5.7.x, so the
// bounce says TLS stopped it; anything else as expired (4.4.7).
func expiryEnhanced(last delivery.Reply) string {
	if rest, ok := strings.CutPrefix(last.Enhanced, "4.7."); ok {
		return "5.7." + rest
	}
	return expiredEnhanced
}
