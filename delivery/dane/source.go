package dane

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"time"

	"github.com/outbox-mta/outbox/delivery/tlspolicy"
	"github.com/outbox-mta/outbox/mxresolve"
)

// Resolver is the DNS side of DANE: the MX hosts of a domain, each marked
// Secure when its MX and address records were DNSSEC-validated, and the
// TLSA records of a host. *mxresolve.Resolver satisfies it.
type Resolver interface {
	Lookup(ctx context.Context, domain string) ([]mxresolve.Host, error)
	LookupTLSA(ctx context.Context, host string, port uint16) (mxresolve.TLSA, error)
}

var _ Resolver = (*mxresolve.Resolver)(nil)

// DefaultPort is the SMTP port whose TLSA records are asked (RFC 7672
// §2.2.3: "_25._tcp").
const DefaultPort = 25

// Source is the DANE policy source of delivery (tlspolicy.Source). For a
// domain whose MX answer is validated, it asks the TLSA records of each
// validated MX host; when any host has records (or a failed lookup),
// DANE is the domain's policy, enforced (RFC 7672 §2.2): it takes
// precedence over MTA-STS (RFC 8461 §2).
type Source struct {
	Resolver Resolver
	// Port is the port whose TLSA records are asked. Zero: DefaultPort.
	Port uint16
	// Now is the clock of DANE-TA chain checks. Nil: time.Now.
	Now func() time.Time
}

var _ tlspolicy.Source = (*Source)(nil)

// hostState is what DANE says of one MX host.
type hostState struct {
	records []Record
	name    string // the TLSA query name
	err     error  // the TLSA lookup failed: the host must not be used
}

// checker is the tlspolicy.HostChecker of one domain's DANE policy.
type checker struct {
	src    *Source
	domain string
	hosts  map[string]hostState // by MX name; absent: not secure, DANE does not apply
}

// Policy implements tlspolicy.Source. An MX lookup failure is not its to
// report (delivery's own lookup defers the recipients): it returns no
// policy.
func (s *Source) Policy(ctx context.Context, domain string) (tlspolicy.Policy, error) {
	hosts, err := s.Resolver.Lookup(ctx, domain)
	if err != nil {
		return tlspolicy.Policy{}, nil
	}
	c := &checker{src: s, domain: strings.ToLower(strings.TrimSuffix(domain, ".")), hosts: map[string]hostState{}}
	var strs []string
	dane := false
	for _, h := range hosts {
		if !h.Secure {
			continue // RFC 7672 §2.2.1: insecure MX or address records, no TLSA lookup
		}
		res, err := s.Resolver.LookupTLSA(ctx, h.Name, s.port())
		st := hostState{name: res.Name, err: err}
		if err == nil && res.Secure {
			st.records = FromDNS(res.Records)
		}
		if st.err == nil && len(st.records) == 0 {
			continue
		}
		dane = true
		c.hosts[h.Name] = st
		for _, r := range st.records {
			// RFC 8460 §4.4: a tlsa policy-string is the records in
			// presentation form.
			strs = append(strs, res.Name+". IN TLSA "+r.String())
		}
	}
	if !dane {
		return tlspolicy.Policy{}, nil
	}
	return tlspolicy.Policy{Type: tlspolicy.TypeDANE, Mode: tlspolicy.ModeEnforce, Domain: c.domain,
		ID: "tlsa", Strings: strs, Hosts: c}, nil
}

// Host implements tlspolicy.HostChecker.
func (c *checker) Host(_ context.Context, mx string) (tlspolicy.Host, error) {
	st, ok := c.hosts[strings.ToLower(mx)]
	if !ok {
		// Not validated, or no TLSA records: DANE does not apply to this
		// host (RFC 7672 §2.2); delivery's own TLS policy does.
		return tlspolicy.Host{}, nil
	}
	if st.err != nil {
		return tlspolicy.Host{}, &tlspolicy.Failure{Result: tlspolicy.ResultDNSSECInvalid,
			Detail: "TLSA lookup of " + mx + " failed; RFC 7672 §2.2 forbids using the host", Err: st.err}
	}
	usable, req := Classify(st.records)
	if req == RequireEncryption {
		// RFC 7672 §2.2: TLSA records exist, none usable: TLS is
		// mandatory, the certificate is not checked.
		return tlspolicy.Host{RequireTLS: true, Verify: func(tls.ConnectionState) error { return nil }}, nil
	}
	names := []string{strings.ToLower(mx), c.domain}
	verify := func(cs tls.ConnectionState) error {
		_, err := Verify(usable, cs.PeerCertificates, names, c.src.now())
		if err != nil {
			return &tlspolicy.Failure{Result: failureType(err), Detail: "DANE " + st.name, Err: err}
		}
		return nil
	}
	return tlspolicy.Host{RequireTLS: true, Verify: verify, VerifiedBy: tlspolicy.VerifiedDANE}, nil
}

// failureType is the RFC 8460 §4.3 result type of a Verify error.
func failureType(err error) tlspolicy.ResultType {
	switch {
	case errors.Is(err, ErrHostMismatch):
		return tlspolicy.ResultCertificateHostMismatch
	case errors.Is(err, ErrExpired):
		return tlspolicy.ResultCertificateExpired
	case errors.Is(err, ErrNoUsable):
		return tlspolicy.ResultTLSAInvalid
	}
	return tlspolicy.ResultValidationFailure
}

func (s *Source) port() uint16 {
	if s.Port != 0 {
		return s.Port
	}
	return DefaultPort
}

func (s *Source) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
