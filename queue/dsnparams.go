package queue

import (
	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/store"
)

// setEnvelopeDSN copies the DSN parameters of m (RFC 3461) into env, the
// envelope of group g, so that delivery passes them to a next hop that
// offers DSN.
func setEnvelopeDSN(env *delivery.Envelope, m *store.Message, g group) {
	env.EnvID = m.EnvID
	env.Ret = m.Ret.String()
	var params []delivery.RcptDSN
	for k, i := range g.Index {
		if i >= len(m.Recipients) {
			continue
		}
		r := &m.Recipients[i]
		if r.Notify == 0 && r.ORcpt == "" {
			continue
		}
		if params == nil {
			params = make([]delivery.RcptDSN, len(g.Rcpts))
		}
		params[k] = delivery.RcptDSN{Notify: r.Notify.Keywords(), ORcpt: r.ORcpt}
	}
	env.DSN = params
}

// The NOTIFY rules of RFC 3461 §4.1 for a recipient's set n; 0 means the
// parameter was not given, and then failures are notified and delays at
// our discretion (we do).

// wantsFailure reports whether a failure of the recipient is notified.
func wantsFailure(n store.DSNNotify) bool { return n == 0 || n&store.NotifyFailure != 0 }

// wantsDelay reports whether a delay of the recipient is notified.
func wantsDelay(n store.DSNNotify) bool { return n == 0 || n&store.NotifyDelay != 0 }

// wantsSuccess reports whether a success of the recipient is notified.
func wantsSuccess(n store.DSNNotify) bool { return n&store.NotifySuccess != 0 }

// WantsDelay reports whether a delay warning may report recipient r: its
// NOTIFY asked for delays, or it gave none (RFC 3461 §4.1).
func WantsDelay(r *store.Recipient) bool { return wantsDelay(r.Notify) }
