package delivery

import (
	"github.com/outbox-mta/outbox/delivery/tlspolicy"
)

// TLSReporter receives the TLS outcome of every session opened with an MX
// host, and of every one that failed for a TLS reason (no STARTTLS where
// TLS is required, a failed handshake, a certificate the policy rejects),
// for TLS reporting (RFC 8460 §4: counts of sessions). Pooled sessions
// reused for another message are not new sessions and are not reported.
// ReportTLS must not block: it runs on the delivery's goroutine.
type TLSReporter interface {
	ReportTLS(s TLSSession)
}

// TLSSession is the TLS outcome of one session with an MX host.
type TLSSession struct {
	Domain string // the destination domain
	MXHost string // the MX host name
	Addr   string // the "ip:port" connected to
	Local  string // our "ip:port" on the connection; "" when it failed before one was known
	// Policy is the TLS policy the session was held to (Type None: none).
	Policy tlspolicy.Policy
	// Outcome is the session's TLS outcome; Outcome.Failure is set when
	// it failed.
	Outcome tlspolicy.Outcome
}

// reportTLS hands the outcome of a session with t to the TLSReporter.
func (d *Deliverer) reportTLS(domain string, t target, local string, o tlspolicy.Outcome) {
	if d.opts.TLSReporter == nil {
		return
	}
	d.opts.TLSReporter.ReportTLS(TLSSession{Domain: domain, MXHost: t.name, Addr: t.addr, Local: local, Policy: t.tls.policy, Outcome: o})
}
