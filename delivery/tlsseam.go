package delivery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"

	"github.com/outbox-mta/outbox/delivery/tlspolicy"
)

// TLSMemory is the downgrade memory: the best TLS level each destination
// domain has shown (tlspolicy.Level). A session below it fails the host, a
// temporary failure, until an operator resets the domain.
type TLSMemory interface {
	TLSLevel(ctx context.Context, domain string) (tlspolicy.Level, error)
	// RaiseTLSLevel records l for domain when it is above the level kept.
	RaiseTLSLevel(ctx context.Context, domain string, l tlspolicy.Level) error
}

// hostTLS is what the TLS policy asks of one target.
type hostTLS struct {
	verify     func(tls.ConnectionState) error // replaces the WebPKI check; nil: WebPKI for the name
	verifiedBy tlspolicy.VerifiedBy            // what a passing check proves
	floor      tlspolicy.Level                 // downgrade memory: the least level accepted
	domain     string                          // destination domain, for the downgrade message
	outcome    tlspolicy.Outcome               // policy part of the attempt's TLS outcome
	policy     tlspolicy.Policy                // the policy applied, for TLS reports
}

// tlsPlan is the TLS policy of one attempt to a direct destination.
type tlsPlan struct {
	domain string
	policy tlspolicy.Policy
	floor  tlspolicy.Level
	relax  bool // TLS-Required: No (RFC 8689 §5): policy failures are not enforced
}

// planTLS asks the TLS policy source and the downgrade memory about domain.
// A REQUIRETLS message needs a policy that authenticates the MX hosts (RFC
// 8689 §4.2.1: MTA-STS or DANE, enforced); without one it bounces with
// 5.7.10 before any connection.
func (d *Deliverer) planTLS(ctx context.Context, domain string, env *Envelope) (tlsPlan, Reply, Status) {
	p := tlsPlan{domain: domain, relax: env.TLSRequiredNo && !env.RequireTLS}
	if src := d.opts.TLSPolicies; src != nil {
		pol, err := src.Policy(ctx, domain)
		if err != nil {
			return p, Reply{Enhanced: "4.7.5", Text: "TLS policy of " + domain + " undetermined: " + err.Error()}, Deferred
		}
		p.policy = pol
	}
	if env.RequireTLS && !p.policy.Enforced() {
		return p, Reply{Enhanced: "5.7.10", Text: "REQUIRETLS (RFC 8689): " + domain + " has no MTA-STS or DANE policy in enforce mode that could authenticate its MX hosts"}, Bounced
	}
	if m := d.opts.TLSMemory; m != nil && !p.relax {
		l, err := m.TLSLevel(ctx, domain)
		if err != nil {
			return p, Reply{Enhanced: "4.3.0", Text: "reading the TLS downgrade memory: " + err.Error()}, Deferred
		}
		p.floor = l
	}
	return p, Reply{}, 0
}

// applyTLS sets what the plan asks of MX host t, or returns the policy
// failure that rules the host out (an MTA-STS enforce policy whose mx
// patterns the name does not match, RFC 8461 §4.1).
func (p *tlsPlan) applyTLS(ctx context.Context, t *target) *tlspolicy.Failure {
	pol := p.policy
	t.tls.floor, t.tls.domain = p.floor, p.domain
	t.tls.outcome = tlspolicy.Outcome{Policy: pol.Type, Mode: pol.Mode, Domain: pol.Domain}
	t.tls.policy = pol
	if pol.Failure != nil {
		t.tls.outcome.Failure, t.tls.outcome.Detail = pol.Failure.Result, pol.Failure.Detail
	}
	switch {
	case p.floor >= tlspolicy.LevelVerified && t.policy < TLSVerify:
		t.policy = TLSVerify
	case p.floor >= tlspolicy.LevelEncrypted && t.policy < TLSRequired:
		t.policy = TLSRequired
	}
	if pol.Hosts == nil || pol.Type == tlspolicy.TypeNone {
		return nil
	}
	h, err := pol.Hosts.Host(ctx, t.name)
	if err != nil {
		f := tlspolicy.AsFailure(err)
		if f == nil {
			f = &tlspolicy.Failure{Result: tlspolicy.ResultValidationFailure, Detail: t.name, Err: err}
		}
		t.tls.outcome.Failure, t.tls.outcome.Detail = f.Result, f.Error()
		if pol.Enforced() && !p.relax {
			return f
		}
		return nil
	}
	t.tls.verify, t.tls.verifiedBy = h.Verify, h.VerifiedBy
	if h.RequireTLS && pol.Enforced() && !p.relax {
		t.policy = TLSVerify
	}
	return nil
}

// secureTargets applies the plan to every target, dropping the hosts the
// policy rules out. With none left, it returns the reply that defers the
// recipients: RFC 8461 §5.1 treats a policy failure as temporary.
func (p *tlsPlan) secureTargets(ctx context.Context, ts []target) ([]target, Reply, *tlspolicy.Outcome) {
	out := ts[:0]
	var last *tlspolicy.Failure
	var lastOut tlspolicy.Outcome
	for _, t := range ts {
		if f := p.applyTLS(ctx, &t); f != nil {
			last, lastOut = f, t.tls.outcome
			continue
		}
		out = append(out, t)
	}
	if len(out) == 0 && last != nil {
		return nil, Reply{Enhanced: "4.7.5", Text: "no MX host of " + p.domain + " may be used under its " + p.policy.String() + " policy: " + last.Error()}, &lastOut
	}
	return out, Reply{}, nil
}

// verifyTarget is the certificate check of t: the policy's own, or the
// WebPKI check for the host name.
func verifyTarget(cs tls.ConnectionState, t target) (tlspolicy.VerifiedBy, error) {
	if t.tls.verify != nil {
		if err := t.tls.verify(cs); err != nil {
			return tlspolicy.VerifiedNone, err
		}
		return t.tls.verifiedBy, nil
	}
	if err := verifyPeer(cs, t.name, t.rootCAs); err != nil {
		return tlspolicy.VerifiedNone, certFailure(t.name, err)
	}
	if t.tls.verifiedBy != tlspolicy.VerifiedNone {
		return t.tls.verifiedBy, nil
	}
	return tlspolicy.VerifiedWebPKI, nil
}

// certFailure classifies a WebPKI verification error by the result types
// of RFC 8460 §4.3.
func certFailure(name string, err error) *tlspolicy.Failure {
	var (
		he x509.HostnameError
		ue x509.UnknownAuthorityError
		ce x509.CertificateInvalidError
	)
	rt := tlspolicy.ResultValidationFailure
	switch {
	case errors.As(err, &he):
		rt = tlspolicy.ResultCertificateHostMismatch
	case errors.As(err, &ue):
		rt = tlspolicy.ResultCertificateNotTrusted
	case errors.As(err, &ce) && ce.Reason == x509.Expired:
		rt = tlspolicy.ResultCertificateExpired
	}
	return &tlspolicy.Failure{Result: rt, Detail: "certificate of " + name, Err: err}
}

// belowFloor says why a session that reached level l must not be used
// under floor, or "" when it may.
func belowFloor(domain string, l, floor tlspolicy.Level) string {
	if l >= floor {
		return ""
	}
	return "TLS downgrade refused: " + domain + " has shown " + floor.String() + " TLS before, this session is " + l.String() +
		" (reset with: outbox tls reset " + domain + ")"
}

// rememberTLS raises the downgrade memory of domain to what the session
// showed.
func (d *Deliverer) rememberTLS(ctx context.Context, domain string, o tlspolicy.Outcome) {
	m := d.opts.TLSMemory
	if m == nil {
		return
	}
	if err := m.RaiseTLSLevel(context.WithoutCancel(ctx), domain, tlspolicy.LevelOf(o)); err != nil {
		d.cfg.log.Warn("cannot record the TLS level", "domain", domain, "err", err)
	}
}

// splitTLSName splits crypto/tls's version name ("TLS 1.3") into the form
// recorded ("TLS1.3").
func tlsVersionName(v uint16) string { return strings.ReplaceAll(tls.VersionName(v), " ", "") }

// secure applies the TLS policy of the destination to its targets: the
// plan (policy source, downgrade memory) for MX hosts; for a relay, only
// REQUIRETLS matters, which needs a relay whose certificate is verified.
// When nothing may be tried it returns the status and reply of every
// recipient, and records the TLS outcome that decided it in res.
func (d *Deliverer) secure(ctx context.Context, domain string, dst dest, env *Envelope, ts []target, res *Result) ([]target, Reply, Status) {
	if dst.relay != nil {
		if !env.RequireTLS {
			return ts, Reply{}, 0
		}
		out := ts[:0]
		for _, t := range ts {
			if t.policy == TLSVerify {
				t.tls.verifiedBy = tlspolicy.VerifiedWebPKI
				out = append(out, t)
			}
		}
		if len(out) == 0 {
			return nil, Reply{Enhanced: "5.7.10", Text: "REQUIRETLS (RFC 8689): no server of the relay is used with a verified certificate"}, Bounced
		}
		return out, Reply{}, 0
	}
	plan, r, st := d.planTLS(ctx, domain, env)
	if st != 0 {
		res.TLSOutcome = tlspolicy.Outcome{Policy: plan.policy.Type, Mode: plan.policy.Mode, Domain: plan.policy.Domain}
		return nil, r, st
	}
	out, r, o := plan.secureTargets(ctx, ts)
	if o != nil {
		res.TLSOutcome = *o
		return nil, r, Deferred
	}
	return out, Reply{}, 0
}

// requireTLSRefusal is the local bounce of a REQUIRETLS message on session
// s, or ok when s may carry it: encrypted, the certificate verified by an
// enforced policy (or, to a relay, by WebPKI), and REQUIRETLS offered (RFC
// 8689 §4.2.1).
func requireTLSRefusal(s *session, env *Envelope) (Reply, bool) {
	if !env.RequireTLS {
		return Reply{}, true
	}
	if s.outcome.VerifiedBy == tlspolicy.VerifiedNone {
		return Reply{Enhanced: "5.7.10", Text: "REQUIRETLS (RFC 8689): the session with " + s.host + " is not verified TLS"}, false
	}
	if ok, _ := s.c.Extension("REQUIRETLS"); !ok {
		return Reply{Enhanced: "5.7.10", Text: "REQUIRETLS (RFC 8689): " + s.host + " does not offer REQUIRETLS"}, false
	}
	return Reply{}, true
}
