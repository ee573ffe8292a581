package delivery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/textproto"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/outbox-mta/outbox/delivery/tlspolicy"
)

// target is one address of a destination to try.
type target struct {
	name       string    // MX or relay host name: SNI and the name the certificate must carry
	addr       string    // "ip:port" (MX) or "name:port" (relay) to dial
	policy     TLSPolicy // resolved: never TLSDefault
	implicit   bool      // TLS from the first byte (relay mode "tls")
	rootCAs    *x509.CertPool
	clientCert *tls.Certificate
	user, pass string // AUTH credentials; user "" means no AUTH
	clearAuth  bool   // PLAIN/LOGIN allowed without TLS (relay mode "none")
	tls        hostTLS
}

// session is an open, greeted (and possibly encrypted and authenticated)
// SMTP connection.
type session struct {
	key  string // pool key of its destination
	c    *smtp.Client
	dc   *deadlineConn
	top  net.Conn // what the client talks through: dc or the *tls.Conn over it
	host string   // "mx.example.com[127.0.0.2]:25"
	tls  string   // "TLS1.3 TLS_AES_128_GCM_SHA256 verified", "none"
	// outcome is the session's TLS outcome (see tlspolicy.Outcome).
	outcome tlspolicy.Outcome
	msgs    int    // transactions made on it
	gen     uint64 // the pool's generation when opened (see SetRoutes)

	w          *wire // the transactions' commands and replies, once set up
	pipelining bool  // the server offers PIPELINING (RFC 2920)
	needReset  bool  // left in a transaction: the next one starts with RSET

	idleTimer *time.Timer // set while in the pool
	idleSince time.Time
}

// stepError is a failure to open a session with one target. Every one of
// them moves on to the next address or host.
type stepError struct {
	step       string // connect, tls, greeting, starttls, ehlo, auth
	reply      Reply
	retryPlain bool // opportunistic TLS handshake failure: retry the host in plain text
	// outcome is the TLS outcome of the host when TLS is what failed.
	outcome *tlspolicy.Outcome
}

func (e *stepError) Error() string { return e.step + ": " + e.reply.String() }

// errNoStartTLS is the failure of a host that does not offer STARTTLS when
// the policy requires encryption.
var errNoStartTLS = errors.New("STARTTLS not offered but the TLS policy requires it")

// open connects to t and runs the session up to the point where MAIL can
// be sent: greeting, EHLO, STARTTLS per policy (EHLO again), AUTH.
// plain skips STARTTLS (the opportunistic retry after a failed handshake).
func (d *Deliverer) open(ctx context.Context, t target, plain bool) (*session, error) {
	cfg := &d.cfg
	dialCtx, cancel := context.WithTimeout(ctx, cfg.timeouts.Connect)
	raw, err := d.dialer().DialContext(dialCtx, "tcp", t.addr)
	cancel()
	if err != nil {
		return nil, &stepError{step: "connect", reply: localReply(ctx, "connect to "+t.addr, err)}
	}
	s := &session{host: hostLabel(t, raw.RemoteAddr()), tls: "none", outcome: t.tls.outcome}
	s.dc = newDeadlineConn(raw, cfg.timeouts.Greeting)
	s.top = s.dc
	stop := s.dc.bind(ctx)
	ok := false
	defer func() {
		stop()
		if !ok {
			raw.Close()
		}
	}()

	fail := func(step string, err error, retryPlain bool) (*session, error) {
		r := replyOf(err)
		if !isReply(err) {
			r = localReply(ctx, step, err)
		}
		return nil, &stepError{step: step, reply: r, retryPlain: retryPlain}
	}

	if t.implicit {
		if err := d.handshake(ctx, s, t); err != nil {
			return nil, tlsStepError(ctx, t, "TLS handshake", err, false)
		}
		s.dc.setPhase(cfg.timeouts.Greeting)
	}
	// Hello reads the greeting and sends EHLO with our name; otherwise
	// go-smtp would introduce itself as "localhost". A 4xx or 5xx greeting
	// (or EHLO reply) fails this host.
	s.c = smtp.NewClient(s.top)
	if err := s.c.Hello(cfg.hostname); err != nil {
		return fail("greeting", err, false)
	}

	if !t.implicit && t.policy != TLSNone && !plain {
		if offered, _ := s.c.Extension("STARTTLS"); !offered {
			if t.policy >= TLSRequired {
				return nil, tlsStepError(ctx, t, "STARTTLS", &tlspolicy.Failure{Result: tlspolicy.ResultSTARTTLSNotSupported, Detail: t.name, Err: errNoStartTLS}, false)
			}
		} else if err := d.startTLS(ctx, s, t); err != nil {
			var se *stepError
			if errors.As(err, &se) {
				return nil, se
			}
			return fail("starttls", err, false)
		}
	}

	if why := belowFloor(t.tls.domain, tlspolicy.LevelOf(s.outcome), t.tls.floor); why != "" {
		// A session that avoided the checks above (STARTTLS refused with a
		// 4xx under opportunistic TLS) still may not go below the memory.
		return nil, &stepError{step: "tls", reply: Reply{Enhanced: "4.7.5", Text: why}, outcome: &s.outcome}
	}
	if t.user != "" {
		if err := d.auth(s, t); err != nil {
			return fail("auth", err, false)
		}
	}
	s.w = newWire(s.top)
	s.pipelining, _ = s.c.Extension("PIPELINING")
	ok = true
	return s, nil
}

// startTLS upgrades the session. go-smtp v0.25.1 has no STARTTLS for an
// already greeted Client (only NewClientStartTLS, which says EHLO
// "localhost", and reports a bad certificate only at the next command), so
// the command is sent here on the connection, the handshake is run
// explicitly with its own timeout, and a new Client continues over TLS with
// a fresh EHLO, as RFC 3207 §4.2 requires.
func (d *Deliverer) startTLS(ctx context.Context, s *session, t target) error {
	cfg := &d.cfg
	s.dc.setPhase(cfg.timeouts.Command)
	tp := textproto.NewConn(s.dc) // never closed: it would close the connection
	id, err := tp.Cmd("STARTTLS")
	if err != nil {
		return err
	}
	tp.StartResponse(id)
	_, _, err = tp.ReadResponse(220)
	tp.EndResponse(id)
	if err != nil {
		var te *textproto.Error
		if errors.As(err, &te) && t.policy == TLSOpportunistic && te.Code != 421 {
			// Refused (e.g. 454): the session is still in plain text and usable.
			d.cfg.log.Info("STARTTLS refused, continuing in plain text", "host", s.host, "reply", replyOf(err).String())
			return nil
		}
		return err
	}
	if err := d.handshake(ctx, s, t); err != nil {
		return tlsStepError(ctx, t, "TLS handshake", err, t.policy == TLSOpportunistic)
	}
	s.dc.setPhase(cfg.timeouts.Command)
	s.c = smtp.NewClient(&replayConn{Conn: s.top, prefix: []byte("220 greeting replayed after STARTTLS\r\n")})
	if err := s.c.Hello(cfg.hostname); err != nil {
		return &stepError{step: "ehlo", reply: replyOrLocal(ctx, "EHLO after STARTTLS", err)}
	}
	return nil
}

func replyOrLocal(ctx context.Context, step string, err error) Reply {
	if isReply(err) {
		return replyOf(err)
	}
	return localReply(ctx, step, err)
}

// handshake runs the TLS client handshake over s.dc and records the result
// in s.tls and s.outcome. The certificate is checked in VerifyConnection
// rather than by crypto/tls so that sessions that do not require
// verification still record whether it would have passed, and so that a
// TLS policy (t.tls) can replace the WebPKI check.
func (d *Deliverer) handshake(ctx context.Context, s *session, t target) error {
	s.dc.setPhase(d.cfg.timeouts.TLSHandshake)
	by := tlspolicy.VerifiedNone
	var verr error
	conf := &tls.Config{
		ServerName:         t.name,
		InsecureSkipVerify: true, // see VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			by, verr = verifyTarget(cs, t)
			if verr != nil && t.policy == TLSVerify {
				return verr
			}
			return nil
		},
	}
	if t.clientCert != nil {
		conf.Certificates = []tls.Certificate{*t.clientCert}
	}
	tc := tls.Client(s.dc, conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	s.top = tc
	cs := tc.ConnectionState()
	s.tls = describeTLS(cs, by != tlspolicy.VerifiedNone)
	s.outcome.Version, s.outcome.Cipher, s.outcome.VerifiedBy = tlsVersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite), by
	if f := tlspolicy.AsFailure(verr); f != nil && s.outcome.Failure == "" {
		// Not enforced (opportunistic, or a policy in testing mode):
		// recorded for reporting, the session goes on.
		s.outcome.Failure, s.outcome.Detail = f.Result, f.Error()
	}
	return nil
}

// tlsStepError is the failure of a host at a TLS step: its reply, and the
// outcome with the RFC 8460 result type when the policy's check failed.
func tlsStepError(ctx context.Context, t target, what string, err error, retryPlain bool) *stepError {
	o := t.tls.outcome
	r := localReply(ctx, what, err)
	if f := tlspolicy.AsFailure(err); f != nil {
		o.Failure, o.Detail = f.Result, f.Error()
		r = Reply{Enhanced: "4.7.5", Text: what + " with " + t.name + ": " + f.Error()}
		if errors.Is(err, errNoStartTLS) {
			r.Enhanced = "4.7.10"
		}
	}
	if why := belowFloor(t.tls.domain, tlspolicy.LevelPlain, t.tls.floor); why != "" && !retryPlain {
		r.Text += "; " + why
	}
	return &stepError{step: "tls", reply: r, retryPlain: retryPlain, outcome: &o}
}

// verifyPeer checks the peer's chain against roots (nil: the system pool)
// for name.
func verifyPeer(cs tls.ConnectionState, name string, roots *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no peer certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		DNSName:       name,
		Roots:         roots,
		Intermediates: inter,
	})
	return err
}

// describeTLS is the form recorded in Result.TLS.
func describeTLS(cs tls.ConnectionState, verified bool) string {
	v := "unverified"
	if verified {
		v = "verified"
	}
	return fmt.Sprintf("%s %s %s", tlsVersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite), v)
}

// auth authenticates to a relay with the strongest mechanism it offers.
func (d *Deliverer) auth(s *session, t target) error {
	offered, mechs := s.c.Extension("AUTH")
	if !offered {
		return errors.New("relay does not offer AUTH")
	}
	_, encrypted := s.top.(*tls.Conn)
	mech, err := chooseAuth(mechs, encrypted, t.clearAuth)
	if err != nil {
		return fmt.Errorf("%w (offered: %q, encrypted: %v)", err, mechs, encrypted)
	}
	s.dc.setPhase(d.cfg.timeouts.Command)
	if err := s.c.Auth(saslClient(mech, t.user, t.pass)); err != nil {
		return fmt.Errorf("AUTH %s: %w", mech, err)
	}
	return nil
}

// quit ends a session politely (QUIT, waiting briefly for the reply) and
// closes it.
func (s *session) quit(timeout time.Duration) {
	s.dc.setPhase(timeout)
	s.w.cmd("QUIT")
	s.w.reply() //nolint:errcheck // the reply does not matter
	s.c.Close()
}

// hostLabel formats "name[ip]:port" for logs and Result.Host: the address
// connected to (remote may be nil before a connection exists) and the port
// dialed (a test dialer may redirect it).
func hostLabel(t target, remote net.Addr) string {
	h, port, _ := net.SplitHostPort(t.addr)
	if remote != nil {
		if ap, err := netip.ParseAddrPort(remote.String()); err == nil {
			h = ap.Addr().Unmap().String()
		}
	}
	if _, err := netip.ParseAddr(h); err != nil {
		return t.name + ":" + port // never connected to a name
	}
	return t.name + "[" + h + "]:" + port
}
