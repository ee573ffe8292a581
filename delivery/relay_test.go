package delivery

import (
	"context"
	"crypto/tls"
	"slices"
	"testing"

	"github.com/outbox-mta/outbox/delivery/smtptest"
)

// relayDeliverer routes every domain through relay "smarthost".
func relayDeliverer(t *testing.T, dl *mapDialer, servers ...RelayServer) *Deliverer {
	return newTestDeliverer(t, nil, dl, relayRoutes(servers...))
}

// relayRoutes routes every domain but direct.test through relay
// "smarthost".
func relayRoutes(servers ...RelayServer) func(*Options) {
	return func(o *Options) {
		o.Routes = map[string]string{"*": "smarthost", "direct.test": Direct}
		o.Relays = map[string][]RelayServer{"smarthost": servers}
	}
}

func TestRelayFailoverAndAuth(t *testing.T) {
	pki := newPKI(t, "relay2.test")
	down := startServer(t, "127.0.0.3", smtptest.Options{Greeting: "421 4.3.2 maintenance"})
	good := startServer(t, "127.0.0.4", smtptest.Options{
		TLSConfig: pki.serverConfig(),
		Users:     map[string]string{"app": "s3cret"},
		AuthMechs: []string{"PLAIN", "LOGIN"},
	})
	dl := &mapDialer{to: map[string]string{
		"relay0.test:587": closedAddr(t, "127.0.0.5"),
		"relay1.test:587": down.Addr,
		"relay2.test:587": good.Addr,
	}}
	d := relayDeliverer(t, dl,
		RelayServer{Host: "relay0.test"},
		RelayServer{Host: "relay1.test"},
		RelayServer{Host: "relay2.test", Username: "app", Password: "s3cret", RootCAs: pki.pool},
	)
	res := d.Deliver(context.Background(), envelope("example.test", true, "a@example.test"))
	if res.Rcpts[0].Status != Delivered {
		t.Fatalf("%+v", res)
	}
	if res.Host != "relay2.test[127.0.0.4]:587" || res.TLS != "TLS1.3 TLS_AES_128_GCM_SHA256 verified" {
		t.Errorf("Host = %q, TLS = %q", res.Host, res.TLS)
	}
	if got := good.Auths(); !slices.Equal(got, []smtptest.Auth{{Mech: "PLAIN", User: "app"}}) {
		t.Errorf("auths = %v", got)
	}
	if m := good.Messages(); len(m) != 1 || m[0].AuthUser != "app" || !m[0].TLS {
		t.Errorf("messages = %+v", m)
	}
	if !slices.Equal(dl.dials, []string{"relay0.test:587", "relay1.test:587", "relay2.test:587"}) {
		t.Errorf("dials = %v", dl.dials)
	}
}

// relayAuthCase is a relay server's AUTH offer and what delivery to it must
// do.
type relayAuthCase struct {
	name     string
	server   smtptest.Options
	relay    RelayServer
	status   Status
	wantAuth []smtptest.Auth
}

func TestRelayAuth(t *testing.T) {
	pki := newPKI(t, "relay.test")
	clientPKI := newPKI(t, "client.test")
	tests := []relayAuthCase{
		{
			name:     "CRAM-MD5 preferred",
			server:   smtptest.Options{TLSConfig: pki.serverConfig(), AuthMechs: []string{"PLAIN", "LOGIN", "CRAM-MD5"}},
			relay:    RelayServer{RootCAs: pki.pool},
			status:   Delivered,
			wantAuth: []smtptest.Auth{{Mech: "CRAM-MD5", User: "app"}},
		},
		{
			name:     "CRAM-MD5 in clear with TLS mode none",
			server:   smtptest.Options{AllowInsecureAuth: true, AuthMechs: []string{"PLAIN", "CRAM-MD5"}},
			relay:    RelayServer{TLSMode: TLSModeNone},
			status:   Delivered,
			wantAuth: []smtptest.Auth{{Mech: "CRAM-MD5", User: "app"}},
		},
		{
			name:     "LOGIN over TLS",
			server:   smtptest.Options{TLSConfig: pki.serverConfig(), AuthMechs: []string{"LOGIN"}},
			relay:    RelayServer{RootCAs: pki.pool},
			status:   Delivered,
			wantAuth: []smtptest.Auth{{Mech: "LOGIN", User: "app"}},
		},
		{
			name:     "PLAIN in clear allowed by TLS mode none",
			server:   smtptest.Options{AllowInsecureAuth: true, AuthMechs: []string{"PLAIN"}},
			relay:    RelayServer{TLSMode: TLSModeNone},
			status:   Delivered,
			wantAuth: []smtptest.Auth{{Mech: "PLAIN", User: "app"}},
		},
		{
			name:   "PLAIN never sent in clear otherwise",
			server: smtptest.Options{AllowInsecureAuth: true, AuthMechs: []string{"PLAIN", "LOGIN"}},
			relay:  RelayServer{TLSPolicy: TLSOpportunistic},
			status: Deferred,
		},
		{
			name:   "wrong password defers",
			server: smtptest.Options{TLSConfig: pki.serverConfig(), AuthMechs: []string{"PLAIN"}},
			relay:  RelayServer{RootCAs: pki.pool, Password: "wrong"},
			status: Deferred,
		},
		{
			name: "implicit TLS with client certificate",
			server: smtptest.Options{ImplicitTLS: true, AuthMechs: []string{"PLAIN"}, TLSConfig: &tls.Config{
				Certificates: []tls.Certificate{pki.cert},
				ClientAuth:   tls.RequireAndVerifyClientCert,
				ClientCAs:    clientPKI.pool,
			}},
			relay:    RelayServer{TLSMode: TLSModeImplicit, Port: 587, RootCAs: pki.pool, ClientCert: &clientPKI.cert},
			status:   Delivered,
			wantAuth: []smtptest.Auth{{Mech: "PLAIN", User: "app"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runRelayAuthCase(t, tt) })
	}
}

// runRelayAuthCase delivers one message through the relay of tt, as user
// "app", and checks its outcome and the AUTH the server saw.
func runRelayAuthCase(t *testing.T, tt relayAuthCase) {
	tt.server.Users = map[string]string{"app": "s3cret"}
	srv := startServer(t, "127.0.0.4", tt.server)
	relay := tt.relay
	relay.Host = "relay.test"
	relay.Username = "app"
	if relay.Password == "" {
		relay.Password = "s3cret"
	}
	port := "587"
	if relay.TLSMode == TLSModeNone {
		port = "25"
	}
	dl := &mapDialer{to: map[string]string{"relay.test:" + port: srv.Addr}}
	d := relayDeliverer(t, dl, relay)
	res := d.Deliver(context.Background(), envelope("example.test", true, "a@example.test"))
	if r := res.Rcpts[0]; r.Status != tt.status {
		t.Fatalf("status %v (%v), want %v", r.Status, r.Reply, tt.status)
	}
	if got := srv.Auths(); !slices.Equal(got, tt.wantAuth) {
		t.Errorf("auths = %v, want %v", got, tt.wantAuth)
	}
}

// TestRouteDirect: a domain routed Direct bypasses the default relay.
func TestRouteDirect(t *testing.T) {
	mx := startServer(t, "127.0.0.2", smtptest.Options{})
	dl := &mapDialer{to: map[string]string{"127.0.0.2:25": mx.Addr}}
	d := newTestDeliverer(t, &fakeResolver{hosts: map[string][]Host{"direct.test": {host("mx.direct.test", 0, "127.0.0.2")}}},
		dl, relayRoutes(RelayServer{Host: "relay.test"}))
	res := d.Deliver(context.Background(), envelope("Direct.Test", true, "a@direct.test"))
	if res.Rcpts[0].Status != Delivered || len(mx.Messages()) != 1 {
		t.Errorf("%+v", res)
	}
}

func TestUnknownRelayDefers(t *testing.T) {
	d := newTestDeliverer(t, nil, &mapDialer{}, func(o *Options) { o.Routes = map[string]string{"*": "nowhere"} })
	res := d.Deliver(context.Background(), envelope("example.test", true, "a@example.test"))
	if r := res.Rcpts[0]; r.Status != Deferred || r.Reply.Enhanced != "4.3.5" {
		t.Errorf("%v %v", r.Status, r.Reply)
	}
}
