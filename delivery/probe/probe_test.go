package probe

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery/smtptest"
)

func tlsServer(t *testing.T, ca *smtptest.CA, implicit bool, names ...string) *smtptest.Server {
	t.Helper()
	cert := ca.Issue(t, names...)
	return smtptest.Start(t, smtptest.Options{
		TLSConfig:   &tls.Config{Certificates: []tls.Certificate{cert}},
		ImplicitTLS: implicit,
		Users:       map[string]string{"alice": "s3cret"},
	})
}

// TestProbeSessions: what the report shows for a plain server, STARTTLS
// with a valid and with a wrong-name certificate, and implicit TLS.
func TestProbeSessions(t *testing.T) {
	ca := smtptest.NewCA(t)
	plain := smtptest.Start(t, smtptest.Options{})
	starttls := tlsServer(t, ca, false, "mx.test", "127.0.0.1")
	other := tlsServer(t, ca, false, "other.test")
	implicit := tlsServer(t, ca, true, "mx.test")
	tests := []struct {
		name      string
		opts      Options
		tls       bool
		verified  bool
		verifyErr string
		after     bool // an EHLO after STARTTLS
		mechs     []string
	}{
		{name: "plain", opts: Options{Addr: plain.Addr}},
		{name: "starttls", opts: Options{Addr: starttls.Addr, Host: "mx.test"}, tls: true, verified: true, after: true,
			mechs: []string{"PLAIN", "LOGIN", "CRAM-MD5"}},
		{name: "starttls by IP", opts: Options{Addr: starttls.Addr}, tls: true, verified: true, after: true,
			mechs: []string{"PLAIN", "LOGIN", "CRAM-MD5"}},
		{name: "other name", opts: Options{Addr: other.Addr, Host: "mx.test"}, tls: true, after: true,
			verifyErr: "valid for other.test, not mx.test", mechs: []string{"PLAIN", "LOGIN", "CRAM-MD5"}},
		{name: "no-tls", opts: Options{Addr: starttls.Addr, Host: "mx.test", NoTLS: true}},
		{name: "implicit", opts: Options{Addr: implicit.Addr, Host: "mx.test", ImplicitTLS: true}, tls: true, verified: true,
			mechs: []string{"PLAIN", "LOGIN", "CRAM-MD5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.RootCAs = ca.Pool
			tt.opts.Timeout = 10 * time.Second
			rep, err := Probe(context.Background(), tt.opts)
			if err != nil {
				t.Fatalf("Probe: %v (%+v)", err, rep)
			}
			if !strings.HasPrefix(rep.Greeting, "220 ") || len(rep.EHLO) < 2 || !strings.Contains(rep.Greeting, "mx.test") {
				t.Errorf("greeting %q, EHLO %q", rep.Greeting, rep.EHLO)
			}
			if (rep.TLS != nil) != tt.tls {
				t.Fatalf("TLS = %+v, want TLS %v", rep.TLS, tt.tls)
			}
			if (len(rep.EHLOAfter) > 0) != tt.after {
				t.Errorf("EHLO after STARTTLS = %q, want one: %v", rep.EHLOAfter, tt.after)
			}
			if !slices.Equal(rep.AuthMechs, tt.mechs) {
				t.Errorf("AUTH mechanisms %q, want %q", rep.AuthMechs, tt.mechs)
			}
			if !tt.tls {
				return
			}
			if rep.TLS.Verified != tt.verified || !strings.Contains(rep.TLS.VerifyError, tt.verifyErr) {
				t.Errorf("verified %v (%q), want %v (%q)", rep.TLS.Verified, rep.TLS.VerifyError, tt.verified, tt.verifyErr)
			}
			if rep.TLS.Version != "TLS 1.3" || rep.TLS.Cipher == "" || len(rep.TLS.Chain) != 1 ||
				rep.TLS.Chain[0].Issuer != "CN=Outbox test CA" {
				t.Errorf("TLS %+v", rep.TLS)
			}
		})
	}
}

// TestProbeUntrustedRoot: without the test CA, the system roots do not
// verify the chain.
func TestProbeUntrustedRoot(t *testing.T) {
	s := tlsServer(t, smtptest.NewCA(t), false, "mx.test")
	rep, err := Probe(context.Background(), Options{Addr: s.Addr, Host: "mx.test"})
	if err != nil || rep.TLS == nil || rep.TLS.Verified || !strings.Contains(rep.TLS.VerifyError, "unknown authority") {
		t.Fatalf("err %v, report %+v", err, rep.TLS)
	}
}

// TestProbeAuthAndMessage: AUTH success sends the test message with every
// reply recorded and the password nowhere in the report; a wrong password
// fails the session.
func TestProbeAuthAndMessage(t *testing.T) {
	ca := smtptest.NewCA(t)
	s := tlsServer(t, ca, false, "mx.test")
	for _, mech := range []string{"PLAIN", "LOGIN"} {
		t.Run(mech, func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.Options{
				TLSConfig: &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, "mx.test")}},
				Users:     map[string]string{"alice": "s3cret"}, AuthMechs: []string{mech},
			})
			rep, err := Probe(context.Background(), Options{Addr: srv.Addr, Host: "mx.test", RootCAs: ca.Pool,
				User: "alice", Password: "s3cret", From: "probe@example.org", To: []string{"a@mx.test", "b@mx.test"}})
			if err != nil {
				t.Fatalf("Probe: %v\n%+v", err, rep)
			}
			if got := srv.Auths(); len(got) != 1 || got[0] != (smtptest.Auth{Mech: mech, User: "alice"}) {
				t.Errorf("auths %+v", got)
			}
			msgs := srv.Messages()
			if len(msgs) != 1 || !slices.Equal(msgs[0].Rcpts, []string{"a@mx.test", "b@mx.test"}) ||
				!strings.Contains(string(msgs[0].Data), "Subject: outbox probe test message\r\n") {
				t.Fatalf("messages %+v", msgs)
			}
			b, _ := json.Marshal(rep)
			if strings.Contains(string(b), "s3cret") || strings.Contains(string(b), b64("s3cret")) {
				t.Errorf("the password is in the report: %s", b)
			}
			last := rep.Steps[len(rep.Steps)-1]
			if last.Command != "." || last.Code != 250 {
				t.Errorf("steps %+v", rep.Steps)
			}
		})
	}
	rep, err := Probe(context.Background(), Options{Addr: s.Addr, Host: "mx.test", RootCAs: ca.Pool, User: "alice", Password: "wrong"})
	if err == nil || len(rep.Steps) != 1 || rep.Steps[0].Code != 535 || rep.Error == "" {
		t.Fatalf("wrong password: err %v, steps %+v", err, rep.Steps)
	}
}

// TestProbeRejectedRecipient: a rejected RCPT is reported and fails the
// probe; no DATA without an accepted recipient.
func TestProbeRejectedRecipient(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{Rcpt: func(string) error { return smtptest.Reply(550, "5.1.1", "no such user") }})
	rep, err := Probe(context.Background(), Options{Addr: s.Addr, From: "a@example.org", To: []string{"x@mx.test"}})
	if err == nil || !strings.Contains(err.Error(), "550") || len(s.Messages()) != 0 {
		t.Fatalf("err %v, steps %+v", err, rep.Steps)
	}
	if got := rep.Steps[len(rep.Steps)-1].Command; got != "RSET" {
		t.Errorf("last step %q, want RSET", got)
	}
}

// TestProbeConnectFailure: a refused connection is reported as an error
// with the address.
func TestProbeConnectFailure(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{Greeting: "554 5.3.2 go away"})
	rep, err := Probe(context.Background(), Options{Addr: s.Addr, Timeout: 5 * time.Second})
	if err == nil || rep.Greeting != "554 5.3.2 go away" {
		t.Fatalf("err %v, report %+v", err, rep)
	}
}

// loopbackDialer connects to a test server whatever address is asked.
type loopbackDialer struct{ addr string }

func (d loopbackDialer) DialContext(ctx context.Context, network, _ string) (net.Conn, error) {
	var nd net.Dialer
	return nd.DialContext(ctx, network, d.addr)
}

// TestProbeNoAuthInClear: credentials are never sent without TLS to an
// address off loopback (RFC 4954 §4), even when the server offers AUTH.
func TestProbeNoAuthInClear(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{Users: map[string]string{"alice": "s3cret"}, AllowInsecureAuth: true})
	rep, err := Probe(context.Background(), Options{Addr: "192.0.2.1:25", Dialer: loopbackDialer{s.Addr},
		User: "alice", Password: "s3cret"})
	if !errors.Is(err, ErrAuthNotSecure) || len(s.Auths()) != 0 || len(rep.AuthMechs) == 0 {
		t.Fatalf("err %v, auths %v, mechanisms %v", err, s.Auths(), rep.AuthMechs)
	}
	// On loopback the same session authenticates.
	if _, err := Probe(context.Background(), Options{Addr: s.Addr, User: "alice", Password: "s3cret"}); err != nil || len(s.Auths()) != 1 {
		t.Fatalf("loopback: err %v, auths %v", err, s.Auths())
	}
}
