package dane_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"testing"

	"github.com/outbox-mta/outbox/delivery/dane"
	"github.com/outbox-mta/outbox/delivery/smtptest"
	"github.com/outbox-mta/outbox/delivery/tlspolicy"
	"github.com/outbox-mta/outbox/mxresolve"
	"github.com/outbox-mta/outbox/mxresolve/dnstest"
)

// TestSource checks the policy DANE gives each kind of destination (RFC
// 7672 §2.2) and what it asks of each MX host.
func TestSource(t *testing.T) {
	ca := smtptest.NewCA(t)
	leaf := ca.Issue(t, "mx.good.test").Leaf
	stranger := smtptest.NewCA(t).Issue(t, "mx.good.test").Leaf
	spki := hex.EncodeToString(sum256(leaf.RawSubjectPublicKeyInfo))
	zone := []string{
		"good.test. MX 10 mx.good.test.", "mx.good.test. A 127.0.0.2",
		"_25._tcp.mx.good.test. TLSA 3 1 1 " + spki,
		"unsigned.test. MX 10 mx.unsigned.test.", "mx.unsigned.test. A 127.0.0.2",
		"_25._tcp.mx.unsigned.test. TLSA 3 1 1 " + spki,
		"none.test. MX 10 mx.none.test.", "mx.none.test. A 127.0.0.2",
		"unsignedtlsa.test. MX 10 mx.unsignedtlsa.test.", "mx.unsignedtlsa.test. A 127.0.0.2",
		"_25._tcp.mx.unsignedtlsa.test. TLSA 3 1 1 " + spki,
		"bogus.test. MX 10 mx.bogus.test.", "mx.bogus.test. A 127.0.0.2",
		"pkix.test. MX 10 mx.pkix.test.", "mx.pkix.test. A 127.0.0.2",
		"_25._tcp.mx.pkix.test. TLSA 1 1 1 " + spki,
		"mixed.test. MX 10 mx.good.test.", "mixed.test. MX 20 mx.none.test.",
	}
	s := &dnstest.Server{Zone: dnstest.Zone(t, zone...), AD: true,
		Insecure:  map[string]bool{"unsigned.test": true, "_25._tcp.mx.unsignedtlsa.test": true},
		Behaviors: map[string]dnstest.Behavior{"_25._tcp.mx.bogus.test": dnstest.ServFail}}
	s.Start(t)
	src := &dane.Source{Resolver: &mxresolve.Resolver{Server: s.Addr(), Validating: true}}
	ctx := context.Background()
	policy := func(domain string) tlspolicy.Policy {
		t.Helper()
		p, err := src.Policy(ctx, domain)
		if err != nil {
			t.Fatalf("Policy(%s): %v", domain, err)
		}
		return p
	}
	state := func(c *x509.Certificate) tls.ConnectionState {
		return tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}}
	}

	for _, d := range []string{"unsigned.test", "none.test", "unsignedtlsa.test", "nxdomain.test"} {
		if p := policy(d); p.Type != tlspolicy.TypeNone {
			t.Errorf("%s: policy %v, want none", d, p)
		}
	}

	p := policy("good.test")
	if p.Type != tlspolicy.TypeDANE || p.Mode != tlspolicy.ModeEnforce || p.Domain != "good.test" || p.Hosts == nil {
		t.Fatalf("good.test: %+v", p)
	}
	h, err := p.Hosts.Host(ctx, "mx.good.test")
	if err != nil || !h.RequireTLS || h.VerifiedBy != tlspolicy.VerifiedDANE || h.Verify == nil {
		t.Fatalf("good.test host: %+v %v", h, err)
	}
	if err := h.Verify(state(leaf)); err != nil {
		t.Errorf("matching chain: %v", err)
	}
	f := tlspolicy.AsFailure(h.Verify(state(stranger)))
	if f == nil || f.Result != tlspolicy.ResultValidationFailure {
		t.Errorf("other key: %v, want a validation-failure", f)
	}

	p = policy("bogus.test")
	if p.Type != tlspolicy.TypeDANE {
		t.Fatalf("bogus.test: %+v", p)
	}
	_, err = p.Hosts.Host(ctx, "mx.bogus.test")
	if f := tlspolicy.AsFailure(err); f == nil || f.Result != tlspolicy.ResultDNSSECInvalid {
		t.Errorf("bogus.test host: %v, want dnssec-invalid", err)
	}

	p = policy("pkix.test")
	h, err = p.Hosts.Host(ctx, "mx.pkix.test")
	if p.Type != tlspolicy.TypeDANE || err != nil || !h.RequireTLS || h.VerifiedBy != tlspolicy.VerifiedNone || h.Verify(state(stranger)) != nil {
		t.Errorf("pkix.test: %+v host %+v %v, want TLS required, any certificate", p, h, err)
	}

	p = policy("mixed.test")
	h, err = p.Hosts.Host(ctx, "mx.none.test")
	if p.Type != tlspolicy.TypeDANE || err != nil || h.RequireTLS || h.Verify != nil {
		t.Errorf("mixed.test, host without TLSA: %+v %v, want no requirement", h, err)
	}
}
