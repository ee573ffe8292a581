package submission

import (
	"crypto/tls"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

func startAuthServer(t *testing.T, edit func(*Options)) (*testServer, *tls.Config) {
	t.Helper()
	users, err := NewUsers(map[string]string{"alice": mustHash(t, "s3cret-pw")})
	if err != nil {
		t.Fatal(err)
	}
	serverTLS, clientTLS := selfSigned(t)
	ts := startServer(t, func(o *Options) {
		o.Auth = users
		o.TLSConfig = serverTLS
		if edit != nil {
			edit(o)
		}
	})
	return ts, clientTLS
}

func TestAuthOverSTARTTLS(t *testing.T) {
	tests := []struct {
		name string
		auth sasl.Client
	}{
		{"PLAIN", sasl.NewPlainClient("", "alice", "s3cret-pw")},
		{"LOGIN", sasl.NewLoginClient("alice", "s3cret-pw")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, clientTLS := startAuthServer(t, nil)
			c := client(t, ts.addr, "127.0.0.2")
			if ok, _ := c.Extension("STARTTLS"); !ok {
				t.Fatal("STARTTLS not advertised")
			}
			if ok, _ := c.Extension("AUTH"); ok {
				t.Fatal("AUTH advertised before STARTTLS")
			}
			c = startTLSClient(t, ts.addr, "127.0.0.2", clientTLS)
			if ok, mechs := c.Extension("AUTH"); !ok || mechs != "PLAIN LOGIN" {
				t.Fatalf("AUTH after STARTTLS: %v %q", ok, mechs)
			}
			if err := c.Auth(tt.auth); err != nil {
				t.Fatal(err)
			}
			if _, err := send(c, "alice@example.com", []string{"bob@example.org"}, "Subject: x\r\n\r\nx\r\n"); err != nil {
				t.Fatal(err)
			}
			m, body := ts.spool.get(t, ts.spool.id(0))
			if m == nil || m.User != "alice" {
				t.Fatalf("stored %+v", m)
			}
			if !strings.Contains(body, "with ESMTPSA (TLS 1.3 ") {
				t.Errorf("Received field does not record TLS and auth: %q", body)
			}
			if logs := ts.logs.String(); strings.Contains(logs, "s3cret-pw") ||
				!strings.Contains(logs, "user=alice") || !strings.Contains(logs, "tls=\"TLS 1.3") {
				t.Errorf("logs:\n%s", logs)
			}
		})
	}
}

// TestAuthLoginWithoutInitialResponse drives the two-challenge form of
// LOGIN by hand, after STARTTLS.
func TestAuthLoginWithoutInitialResponse(t *testing.T) {
	ts, clientTLS := startAuthServer(t, nil)
	raw := newRaw(t, dial(t, ts.addr, "127.0.0.2"))
	expect(t, raw.reply(), "220 ")
	raw.cmd("EHLO c\r\n")
	expect(t, raw.cmd("STARTTLS\r\n"), "220 ")
	raw.c = tls.Client(raw.c, clientTLS)
	raw.r.Reset(raw.c)
	raw.cmd("EHLO c\r\n")
	b64 := base64.StdEncoding.EncodeToString
	expect(t, raw.cmd("AUTH LOGIN\r\n"), "334 "+b64([]byte("Username:")))
	expect(t, raw.cmd(b64([]byte("alice"))+"\r\n"), "334 "+b64([]byte("Password:")))
	expect(t, raw.cmd(b64([]byte("s3cret-pw"))+"\r\n"), "235 ")
	expect(t, raw.cmd("MAIL FROM:<alice@example.com>\r\n"), "250 ")
}

func TestAuthFailuresAreThrottled(t *testing.T) {
	ts, clientTLS := startAuthServer(t, func(o *Options) { o.AuthMaxFailures = 2 })
	try := func(pass string) error {
		c := startTLSClient(t, ts.addr, "127.0.0.2", clientTLS)
		return c.Auth(sasl.NewPlainClient("", "alice", pass))
	}
	for i, pass := range []string{"wrong-1", "wrong-2"} {
		if c, e := code(t, try(pass)); c != 535 || e != "5.7.8" {
			t.Fatalf("failure %d: %d %s, want 535 5.7.8", i+1, c, e)
		}
	}
	// Now even the right password is refused from this address...
	if c, e := code(t, try("s3cret-pw")); c != 454 || e != "4.7.0" {
		t.Fatalf("after 2 failures: %d %s, want 454 4.7.0", c, e)
	}
	// ...and a malformed PLAIN response is a clean 501 for an unthrottled one.
	raw := newRaw(t, dial(t, ts.addr, "127.0.0.1"))
	raw.reply()
	raw.cmd("EHLO c\r\n")
	expect(t, raw.cmd("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("no-nuls"))+"\r\n"), "501 5.5.2")
	expect(t, raw.cmd("AUTH CRAM-MD5\r\n"), "504 5.7.4")
	// Unknown users fail the same way as wrong passwords.
	local := client(t, ts.addr, "127.0.0.1")
	if c, _ := code(t, local.Auth(sasl.NewPlainClient("", "mallory", "x"))); c != 535 {
		t.Errorf("unknown user: %d, want 535", c)
	}
	for _, secret := range []string{"wrong-1", "wrong-2"} {
		if strings.Contains(ts.logs.String(), secret) {
			t.Errorf("password %q logged", secret)
		}
	}
	if !strings.Contains(ts.logs.String(), "authentication failed") {
		t.Error("failure not logged")
	}
}

func TestImplicitTLS(t *testing.T) {
	ts, clientTLS := startAuthServer(t, func(o *Options) { o.MaxConnections = 1 })
	l := listen(t)
	served := make(chan error, 1)
	go func() { served <- ts.srv.ServeTLS(l) }()
	t.Cleanup(func() { _ = ts.srv.Close(); <-served })

	conn, err := tls.Dial("tcp", l.Addr().String(), clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := smtp.NewClient(conn)
	if err := c.Hello("c"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS advertised inside TLS")
	}
	if err := c.Auth(sasl.NewPlainClient("", "alice", "s3cret-pw")); err != nil {
		t.Fatal(err)
	}
	if _, err := send(c, "alice@example.com", []string{"bob@example.org"}, "Subject: x\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}

	// The limit is shared by all listeners, and the refusal is readable
	// inside TLS.
	over, err := tls.Dial("tcp", l.Addr().String(), clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer over.Close()
	raw := newRaw(t, over)
	expect(t, raw.reply(), "421 4.7.0")
}
