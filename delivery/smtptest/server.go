// Package smtptest runs an in-process SMTP server for tests: a go-smtp
// server on a loopback address with a scriptable backend (per-recipient
// replies, DATA reply, dropped connections, AUTH, STARTTLS) that records what
// it received; and a raw Script server whose every reply is scripted, with
// or without PIPELINING, which notes a client that writes ahead of a reply
// it must wait for (script.go). It is meant for the tests of delivery and
// of the packages that drive it; it must never be imported by non-test
// code.
//
// It also holds the tests' one source of TLS certificates (CA, certs.go):
// for the servers here, the submission listener, the integration peers and
// the configuration's certificate checks.
package smtptest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// ErrDrop, returned by a Mail, Rcpt or Data hook, makes the server close the
// connection without replying.
var ErrDrop = errors.New("smtptest: drop the connection")

// Reply builds an SMTP reply for the hooks, e.g. Reply(550, "5.1.1", "no
// such user"). enhanced may be "".
func Reply(code int, enhanced, text string) *smtp.SMTPError {
	e := &smtp.SMTPError{Code: code, Message: text, EnhancedCode: smtp.NoEnhancedCode}
	var a, b, c int
	if enhanced != "" {
		if _, err := fmt.Sscanf(enhanced, "%d.%d.%d", &a, &b, &c); err == nil {
			e.EnhancedCode = smtp.EnhancedCode{a, b, c}
		}
	}
	return e
}

// Options script a Server. The zero value is a plain server that accepts
// everything.
type Options struct {
	// Addr to listen on; default "127.0.0.1:0". Loopback only.
	Addr string
	// Domain announced in the greeting; default "mx.test".
	Domain string
	// TLSConfig enables STARTTLS (or implicit TLS with ImplicitTLS).
	TLSConfig   *tls.Config
	ImplicitTLS bool
	// Greeting, when set, replaces the SMTP server by one that writes this
	// line (e.g. "421 4.3.2 busy") and closes the connection.
	Greeting string
	// Silent accepts connections and never sends anything.
	Silent bool
	// Users enables AUTH with these user → password pairs.
	Users map[string]string
	// AuthMechs are the mechanisms offered; default PLAIN, LOGIN, CRAM-MD5.
	AuthMechs []string
	// AllowInsecureAuth offers AUTH without TLS.
	AllowInsecureAuth bool
	// SMTPUTF8 offers the SMTPUTF8 extension.
	SMTPUTF8 bool
	// MaxMessageBytes is advertised with SIZE and enforced; 0: unlimited.
	MaxMessageBytes int64
	// MaxRecipients per transaction; the next RCPT gets 452 4.5.3 (RFC
	// 5321 §4.5.3.1.10). 0: unlimited.
	MaxRecipients int
	// DSN offers the DSN extension (RFC 3461); Message records the
	// parameters received.
	DSN bool
	// RequireTLS offers REQUIRETLS (RFC 8689) on TLS sessions.
	RequireTLS bool

	// Hooks: nil accepts. They may return a *smtp.SMTPError (see Reply) or
	// ErrDrop. Data sees the message with its body already read.
	Mail func(from string) error
	Rcpt func(to string) error
	Data func(m *Message) error
}

// Message is one message the server accepted (or was offered, for a Data
// hook that rejects it).
type Message struct {
	Helo     string
	TLS      bool
	AuthUser string
	From     string
	Opts     smtp.MailOptions
	Rcpts    []string           // the accepted ones
	RcptOpts []smtp.RcptOptions // parallel to Rcpts
	Data     []byte
	// Received is when the server took the message (its final dot), so a
	// test can check when a message arrived after waiting for it.
	Received time.Time
}

// Server is a running test server.
type Server struct {
	Addr string // actual listening address, "127.0.0.2:41234"

	opts Options
	ln   net.Listener
	srv  *smtp.Server
	done chan struct{}

	mu    sync.Mutex
	conns int
	auths []Auth
	helos []string
	msgs  []Message
	raw   map[net.Conn]struct{}
	all   []net.Conn // every accepted connection, for DropConnections
}

// Start starts a server and stops it when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Domain == "" {
		opts.Domain = "mx.test"
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		t.Fatalf("smtptest: listen %s: %v", opts.Addr, err)
	}
	s := &Server{Addr: ln.Addr().String(), opts: opts, done: make(chan struct{}), raw: map[net.Conn]struct{}{}}
	s.ln = &countingListener{Listener: ln, s: s}
	if opts.ImplicitTLS {
		s.ln = tls.NewListener(s.ln, opts.TLSConfig)
	}
	if opts.Greeting != "" || opts.Silent {
		go s.serveRaw()
	} else {
		s.srv = smtp.NewServer(&backend{s: s})
		s.srv.Domain = opts.Domain
		s.srv.AllowInsecureAuth = opts.AllowInsecureAuth
		s.srv.EnableSMTPUTF8 = opts.SMTPUTF8
		s.srv.MaxMessageBytes = opts.MaxMessageBytes
		s.srv.MaxRecipients = opts.MaxRecipients
		s.srv.EnableDSN = opts.DSN
		s.srv.EnableREQUIRETLS = opts.RequireTLS
		s.srv.ReadTimeout = time.Minute
		s.srv.WriteTimeout = time.Minute
		// Not t.Logf: connection goroutines may outlive the test.
		s.srv.ErrorLog = log.New(io.Discard, "", 0)
		if !opts.ImplicitTLS {
			s.srv.TLSConfig = opts.TLSConfig
		}
		go func() {
			defer close(s.done)
			s.srv.Serve(s.ln) //nolint:errcheck // ends with Close
		}()
	}
	t.Cleanup(s.Close)
	return s
}

// Close stops the server and closes every connection.
func (s *Server) Close() {
	if s.srv != nil {
		s.srv.Close() //nolint:errcheck // second Close reports ErrServerClosed
		// Serve may not have registered the listener yet (a server nobody
		// connected to): closing it ends Serve in any case.
		s.ln.Close()
	} else {
		s.ln.Close()
		s.mu.Lock()
		for c := range s.raw {
			c.Close()
		}
		s.mu.Unlock()
	}
	<-s.done
}

// Connections is the number of TCP connections accepted so far.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// Helos lists the EHLO/HELO names that opened a session: the first of each
// connection and the one after STARTTLS (not those after RSET).
func (s *Server) Helos() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.helos...)
}

// Auth is one successful AUTH exchange.
type Auth struct{ Mech, User string }

// Auths lists the successful AUTH exchanges, in order.
func (s *Server) Auths() []Auth {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Auth(nil), s.auths...)
}

// DropConnections closes every connection accepted so far, as a server
// that times out idle clients would.
func (s *Server) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.all {
		c.Close()
	}
}

// Messages returns the messages accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// serveRaw is the server of the Greeting and Silent modes.
func (s *Server) serveRaw() {
	defer close(s.done)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.raw[c] = struct{}{}
		s.mu.Unlock()
		wg.Go(func() {
			defer func() {
				c.Close()
				s.mu.Lock()
				delete(s.raw, c)
				s.mu.Unlock()
			}()
			if s.opts.Greeting != "" {
				c.Write([]byte(s.opts.Greeting + "\r\n")) //nolint:errcheck // the client may be gone
				return
			}
			// Silent: wait for the client (or Close) to end the connection.
			var b [512]byte
			for {
				if _, err := c.Read(b[:]); err != nil {
					return
				}
			}
		})
	}
}

type countingListener struct {
	net.Listener
	s *Server
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.s.mu.Lock()
		l.s.conns++
		l.s.all = append(l.s.all, c)
		l.s.mu.Unlock()
	}
	return c, err
}
