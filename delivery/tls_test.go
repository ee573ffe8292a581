package delivery

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"

	"github.com/outbox-mta/outbox/delivery/smtptest"
)

func TestMXTLSPolicies(t *testing.T) {
	pki := newPKI(t, "mx1.example.test")
	other := newPKI(t, "other.test")
	brokenTLS := &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return nil, errors.New("no certificate today")
	}}
	tests := []struct {
		name      string
		serverTLS *tls.Config
		policy    TLSPolicy
		trust     bool // RootCAs = the test CA
		wantTLS   string
		status    Status
		conns     int
	}{
		{"verify, valid certificate", pki.serverConfig(), TLSVerify, true, "TLS1.3 TLS_AES_128_GCM_SHA256 verified", Delivered, 1},
		{"verify, wrong name", other.serverConfig(), TLSVerify, true, "none", Deferred, 1},
		{"verify, no STARTTLS", nil, TLSVerify, true, "none", Deferred, 1},
		{"opportunistic, untrusted certificate", pki.serverConfig(), TLSDefault, false, "TLS1.3 TLS_AES_128_GCM_SHA256 unverified", Delivered, 1},
		{"opportunistic, trusted certificate", pki.serverConfig(), TLSOpportunistic, true, "TLS1.3 TLS_AES_128_GCM_SHA256 verified", Delivered, 1},
		{"opportunistic, failing handshake falls back to plain", brokenTLS, TLSOpportunistic, true, "none", Delivered, 2},
		{"opportunistic, no STARTTLS", nil, TLSOpportunistic, true, "none", Delivered, 1},
		{"required, no STARTTLS", nil, TLSRequired, true, "none", Deferred, 1},
		{"required, failing handshake", brokenTLS, TLSRequired, true, "none", Deferred, 1},
		{"required, untrusted certificate", pki.serverConfig(), TLSRequired, false, "TLS1.3 TLS_AES_128_GCM_SHA256 unverified", Delivered, 1},
		{"none, STARTTLS offered", pki.serverConfig(), TLSNone, true, "none", Delivered, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, "127.0.0.2", smtptest.Options{TLSConfig: tt.serverTLS})
			dl := &mapDialer{to: map[string]string{"127.0.0.2:25": srv.Addr}}
			d := newTestDeliverer(t, &fakeResolver{hosts: map[string][]Host{"example.test": {host("mx1.example.test", 10, "127.0.0.2")}}}, dl, func(o *Options) {
				o.DomainTLS = map[string]TLSPolicy{"example.test": tt.policy}
				if tt.trust {
					o.RootCAs = pki.pool
				}
			})
			res := d.Deliver(context.Background(), envelope("example.test", true, "a@example.test"))
			r := res.Rcpts[0]
			if r.Status != tt.status {
				t.Fatalf("status %v (%v), want %v", r.Status, r.Reply, tt.status)
			}
			if srv.Connections() != tt.conns {
				t.Errorf("%d connections, want %d", srv.Connections(), tt.conns)
			}
			if tt.status != Delivered {
				if !res.DestinationDown || len(srv.Messages()) != 0 {
					t.Errorf("down = %v, messages = %d", res.DestinationDown, len(srv.Messages()))
				}
				return
			}
			if res.TLS != tt.wantTLS {
				t.Errorf("TLS = %q, want %q", res.TLS, tt.wantTLS)
			}
			m := srv.Messages()[0]
			if m.TLS != strings.HasPrefix(tt.wantTLS, "TLS") || m.Helo != "out.test" {
				t.Errorf("server saw TLS %v, EHLO %q", m.TLS, m.Helo)
			}
		})
	}
}

// TestEHLOBeforeAndAfterSTARTTLS checks the name we give before STARTTLS
// (go-smtp's client would say "localhost").
func TestEHLOBeforeAndAfterSTARTTLS(t *testing.T) {
	pki := newPKI(t, "mx1.example.test")
	var helos []string
	srv := startServer(t, "127.0.0.2", smtptest.Options{TLSConfig: pki.serverConfig()})
	dl := &mapDialer{to: map[string]string{"127.0.0.2:25": srv.Addr}}
	d := newTestDeliverer(t, &fakeResolver{hosts: map[string][]Host{"example.test": {host("mx1.example.test", 10, "127.0.0.2")}}}, dl,
		func(o *Options) { o.Hostname = "relay-out.example.org" })
	res := d.Deliver(context.Background(), envelope("example.test", true, "a@example.test"))
	if res.Rcpts[0].Status != Delivered {
		t.Fatalf("%+v", res)
	}
	for _, m := range srv.Messages() {
		helos = append(helos, m.Helo)
	}
	if len(helos) != 1 || helos[0] != "relay-out.example.org" {
		t.Errorf("EHLO names after STARTTLS = %v", helos)
	}
	if got := srv.Helos(); len(got) != 2 || got[0] != "relay-out.example.org" || got[1] != "relay-out.example.org" {
		t.Errorf("every EHLO = %v, want our name before and after STARTTLS", got)
	}
}
