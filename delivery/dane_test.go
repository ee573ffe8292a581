package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"testing"

	"github.com/outbox-mta/outbox/delivery/dane"
	"github.com/outbox-mta/outbox/delivery/smtptest"
	"github.com/outbox-mta/outbox/delivery/tlspolicy"
	"github.com/outbox-mta/outbox/mxresolve"
	"github.com/outbox-mta/outbox/mxresolve/dnstest"
)

// tlsSessions is a TLSReporter that keeps what it gets.
type tlsSessions struct {
	mu sync.Mutex
	s  []TLSSession
}

func (r *tlsSessions) ReportTLS(s TLSSession) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.s = append(r.s, s)
}

// TestDANE delivers through the DANE policy source with a resolver that
// validates (dnstest sets AD): a matching TLSA record delivers verified by
// DANE although the certificate's CA is trusted by no one; a server
// without STARTTLS, or with another key, is deferred; each session's
// outcome reaches the TLSReporter.
func TestDANE(t *testing.T) {
	pki := newPKI(t, "mx1.example.test")
	other := newPKI(t, "mx1.example.test")
	spki := sha256.Sum256(pki.cert.Leaf.RawSubjectPublicKeyInfo)
	dns := &dnstest.Server{Zone: dnstest.Zone(t,
		"example.test. MX 10 mx1.example.test.",
		"mx1.example.test. A 127.0.0.2",
		"_25._tcp.mx1.example.test. TLSA 3 1 1 "+hex.EncodeToString(spki[:]),
	), AD: true}
	dns.Start(t)
	tests := []struct {
		name     string
		server   smtptest.Options
		status   Status
		enhanced string
		verified tlspolicy.VerifiedBy
		failure  tlspolicy.ResultType
	}{
		{"TLSA match", smtptest.Options{TLSConfig: pki.serverConfig()}, Delivered, "", tlspolicy.VerifiedDANE, ""},
		{"no STARTTLS", smtptest.Options{}, Deferred, "4.7.10", tlspolicy.VerifiedNone, tlspolicy.ResultSTARTTLSNotSupported},
		{"other key", smtptest.Options{TLSConfig: other.serverConfig()}, Deferred, "4.7.5", tlspolicy.VerifiedNone, tlspolicy.ResultValidationFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, "127.0.0.2", tt.server)
			dl := &mapDialer{to: map[string]string{"127.0.0.2:25": srv.Addr}}
			res := &mxresolve.Resolver{Server: dns.Addr(), Validating: true}
			rep := &tlsSessions{}
			d := newTestDeliverer(t, res, dl, func(o *Options) {
				o.TLSPolicies = tlspolicy.Chain{&dane.Source{Resolver: res}}
				o.TLSReporter = rep
			})
			r := d.Deliver(context.Background(), envelope("example.test", true, "a@example.test"))
			got := r.Rcpts[0]
			if got.Status != tt.status || got.Reply.Enhanced != tt.enhanced && tt.enhanced != "" {
				t.Fatalf("outcome %v %q, want %v %s", got.Status, got.Reply, tt.status, tt.enhanced)
			}
			o := r.TLSOutcome
			if o.VerifiedBy != tt.verified || o.Failure != tt.failure || o.Policy != tlspolicy.TypeDANE {
				t.Errorf("TLS outcome %+v, want dane policy, verified by %v, failure %q", o, tt.verified, tt.failure)
			}
			if len(rep.s) != 1 || rep.s[0].Outcome != o || rep.s[0].MXHost != "mx1.example.test" ||
				rep.s[0].Policy.Type != tlspolicy.TypeDANE || len(rep.s[0].Policy.Strings) != 1 ||
				!strings.HasPrefix(rep.s[0].Policy.Strings[0], "_25._tcp.mx1.example.test. IN TLSA 3 1 1 ") {
				t.Errorf("TLS sessions reported: %+v", rep.s)
			}
		})
	}
}
