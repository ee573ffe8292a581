package delivery

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/outbox-mta/outbox/delivery/smtptest"
	"github.com/outbox-mta/outbox/delivery/tlspolicy"
)

// fakePolicies is a tlspolicy.Source with one Policy for every domain; its
// HostChecker allows the names in allow and fails the others.
type fakePolicies struct {
	typ   tlspolicy.Type
	mode  tlspolicy.Mode
	allow map[string]bool
}

func (f *fakePolicies) Policy(_ context.Context, domain string) (tlspolicy.Policy, error) {
	if f.typ == tlspolicy.TypeNone {
		return tlspolicy.Policy{}, nil
	}
	return tlspolicy.Policy{Type: f.typ, Mode: f.mode, Domain: domain, Hosts: f}, nil
}

func (f *fakePolicies) Host(_ context.Context, mx string) (tlspolicy.Host, error) {
	if !f.allow[mx] {
		return tlspolicy.Host{}, &tlspolicy.Failure{Result: tlspolicy.ResultValidationFailure, Detail: mx + " matches no mx of the policy"}
	}
	return tlspolicy.Host{RequireTLS: true, VerifiedBy: tlspolicy.VerifiedMTASTS}, nil
}

// memMemory is an in-memory TLSMemory.
type memMemory struct {
	mu sync.Mutex
	m  map[string]tlspolicy.Level
}

func (m *memMemory) TLSLevel(_ context.Context, d string) (tlspolicy.Level, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.m[d], nil
}

func (m *memMemory) RaiseTLSLevel(_ context.Context, d string, l tlspolicy.Level) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string]tlspolicy.Level{}
	}
	m.m[d] = max(m.m[d], l)
	return nil
}

func TestTLSPolicySeam(t *testing.T) {
	pki := newPKI(t, "mx1.example.test")
	wrong := newPKI(t, "other.test")
	enforce := &fakePolicies{typ: tlspolicy.TypeMTASTS, allow: map[string]bool{"mx1.example.test": true}}
	mismatch := &fakePolicies{typ: tlspolicy.TypeMTASTS, allow: map[string]bool{}}
	testing_ := &fakePolicies{typ: tlspolicy.TypeMTASTS, mode: tlspolicy.ModeTesting, allow: map[string]bool{}}
	tests := []struct {
		name       string
		src        tlspolicy.Source
		server     smtptest.Options
		env        func(*Envelope)
		floor      tlspolicy.Level
		status     Status
		enhanced   string
		conns      int
		verifiedBy tlspolicy.VerifiedBy
		failure    tlspolicy.ResultType
		textHas    string
	}{
		{name: "enforce, matching MX", src: enforce, server: smtptest.Options{TLSConfig: pki.serverConfig()},
			status: Delivered, conns: 1, verifiedBy: tlspolicy.VerifiedMTASTS},
		{name: "enforce, MX not in policy", src: mismatch, server: smtptest.Options{TLSConfig: pki.serverConfig()},
			status: Deferred, enhanced: "4.7.5", failure: tlspolicy.ResultValidationFailure, textHas: "matches no mx"},
		{name: "enforce, certificate for another name", src: enforce, server: smtptest.Options{TLSConfig: wrong.serverConfig()},
			status: Deferred, enhanced: "4.7.5", conns: 1, failure: tlspolicy.ResultCertificateHostMismatch},
		{name: "enforce, no STARTTLS", src: enforce,
			status: Deferred, enhanced: "4.7.10", conns: 1, failure: tlspolicy.ResultSTARTTLSNotSupported},
		{name: "testing, MX not in policy", src: testing_, server: smtptest.Options{TLSConfig: pki.serverConfig()},
			status: Delivered, conns: 1, verifiedBy: tlspolicy.VerifiedWebPKI, failure: tlspolicy.ResultValidationFailure},
		{name: "TLS-Required: No, MX not in policy", src: mismatch, server: smtptest.Options{TLSConfig: pki.serverConfig()},
			env: func(e *Envelope) { e.TLSRequiredNo = true }, status: Delivered, conns: 1, verifiedBy: tlspolicy.VerifiedWebPKI,
			failure: tlspolicy.ResultValidationFailure},
		{name: "downgrade: verified before, no STARTTLS now", floor: tlspolicy.LevelVerified,
			status: Deferred, conns: 1, textHas: "TLS downgrade refused", failure: tlspolicy.ResultSTARTTLSNotSupported},
		{name: "downgrade: encrypted before, encrypted now", floor: tlspolicy.LevelEncrypted, server: smtptest.Options{TLSConfig: wrong.serverConfig()},
			status: Delivered, conns: 1, failure: tlspolicy.ResultCertificateHostMismatch},
		{name: "downgrade: verified before, certificate for another name now", floor: tlspolicy.LevelVerified, server: smtptest.Options{TLSConfig: wrong.serverConfig()},
			status: Deferred, conns: 1, textHas: "TLS downgrade refused", failure: tlspolicy.ResultCertificateHostMismatch},
		{name: "downgrade ignored for TLS-Required: No", floor: tlspolicy.LevelVerified,
			env: func(e *Envelope) { e.TLSRequiredNo = true }, status: Delivered, conns: 1},
		{name: "REQUIRETLS without a policy", env: func(e *Envelope) { e.RequireTLS = true }, server: smtptest.Options{TLSConfig: pki.serverConfig(), RequireTLS: true},
			status: Bounced, enhanced: "5.7.10"},
		{name: "REQUIRETLS, server without it", src: enforce, env: func(e *Envelope) { e.RequireTLS = true }, server: smtptest.Options{TLSConfig: pki.serverConfig()},
			status: Bounced, enhanced: "5.7.10", conns: 1, verifiedBy: tlspolicy.VerifiedMTASTS, textHas: "does not offer REQUIRETLS"},
		{name: "REQUIRETLS, server with it", src: enforce, env: func(e *Envelope) { e.RequireTLS = true }, server: smtptest.Options{TLSConfig: pki.serverConfig(), RequireTLS: true},
			status: Delivered, conns: 1, verifiedBy: tlspolicy.VerifiedMTASTS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, "127.0.0.2", tt.server)
			dl := &mapDialer{to: map[string]string{"127.0.0.2:25": srv.Addr}}
			mem := &memMemory{m: map[string]tlspolicy.Level{"example.test": tt.floor}}
			d := newTestDeliverer(t, &fakeResolver{hosts: map[string][]Host{"example.test": {host("mx1.example.test", 10, "127.0.0.2")}}}, dl, func(o *Options) {
				o.RootCAs = pki.pool
				o.TLSPolicies = tt.src
				o.TLSMemory = mem
			})
			env := envelope("example.test", true, "a@example.test")
			if tt.env != nil {
				tt.env(env)
			}
			res := d.Deliver(context.Background(), env)
			r := res.Rcpts[0]
			if r.Status != tt.status || (tt.enhanced != "" && r.Reply.Enhanced != tt.enhanced) || !strings.Contains(r.Reply.Text, tt.textHas) {
				t.Fatalf("outcome %v %q, want %v %s containing %q", r.Status, r.Reply, tt.status, tt.enhanced, tt.textHas)
			}
			if srv.Connections() != tt.conns {
				t.Errorf("%d connections, want %d", srv.Connections(), tt.conns)
			}
			o := res.TLSOutcome
			if o.VerifiedBy != tt.verifiedBy || o.Failure != tt.failure {
				t.Errorf("outcome %+v, want verified by %v, failure %q", o, tt.verifiedBy, tt.failure)
			}
			if tt.src == enforce && o.Policy != tlspolicy.TypeMTASTS {
				t.Errorf("outcome policy %v, want mta-sts", o.Policy)
			}
			if tt.status == Delivered {
				if got, want := srv.Messages()[0].Opts.RequireTLS, env.RequireTLS; got != want {
					t.Errorf("MAIL REQUIRETLS = %v, want %v", got, want)
				}
				if l, _ := mem.TLSLevel(context.Background(), "example.test"); l != max(tt.floor, tlspolicy.LevelOf(o)) {
					t.Errorf("memory %v after a %v session", l, tlspolicy.LevelOf(o))
				}
			}
		})
	}
}
