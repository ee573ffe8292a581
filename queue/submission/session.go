package submission

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// session is one client connection's state, from EHLO to QUIT (STARTTLS
// starts a new one). go-smtp calls it from the connection's goroutine, but
// also from a BDAT goroutine (Data) and from Server.Close (Logout), hence
// the mutex.
type session struct {
	srv     *Server
	conn    *smtp.Conn
	netConn net.Conn
	ip      netip.Addr
	client  string // remote address, host:port
	trusted bool
	tls     string      // "TLS 1.3 TLS_AES_128_GCM_SHA256"; "" without TLS
	cc      *clientConn // nil when not served through a limitListener
	fr      *framer     // reads the client's bytes under go-smtp

	mu    sync.Mutex
	user  string // authenticated user, "" if none
	helo  string // EHLO name, for Received; captured at MAIL (see Data)
	inTx  bool
	from  string
	utf8  bool
	body  smtp.BodyType // MAIL BODY= (RFC 6152), logged; the stored type is what the body holds
	rcpts []string
	dsn   dsnMail   // MAIL's DSN parameters
	rdsn  []dsnRcpt // each RCPT's, parallel to rcpts
	// requireTLS: MAIL carried REQUIRETLS (RFC 8689), on a TLS session.
	requireTLS bool
	opt        mailOptions // MAIL's FUTURERELEASE and MT-PRIORITY, granted
}

var (
	_ smtp.Session     = (*session)(nil)
	_ smtp.AuthSession = (*session)(nil)
)

// authAllowed: credentials only travel encrypted, or inside a trusted
// network (RFC 4954 §4, RFC 8314).
func (s *session) authAllowed() bool {
	return s.srv.opts.Auth != nil && (s.tls != "" || s.trusted)
}

// AuthMechanisms implements smtp.AuthSession; nothing is advertised where
// AUTH is not allowed.
func (s *session) AuthMechanisms() []string {
	if !s.authAllowed() {
		return nil
	}
	return []string{sasl.Plain, loginMechanism}
}

// Auth implements smtp.AuthSession.
func (s *session) Auth(mech string) (sasl.Server, error) {
	switch {
	case s.srv.opts.Auth == nil:
		return nil, smtp.ErrAuthUnsupported
	case !s.authAllowed():
		return nil, s.reject("auth", replyAuthNeedsTLS)
	case s.srv.throttle.blocked(s.ip):
		return nil, s.reject("auth", replyAuthThrottled)
	}
	var inner sasl.Server
	switch strings.ToUpper(mech) {
	case sasl.Plain:
		inner = sasl.NewPlainServer(s.authenticate)
	case loginMechanism:
		inner = newLoginServer(s.authenticate)
	default:
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return &authServer{inner: inner, sess: s}, nil
}

// authServer makes sure every error from a SASL exchange reaches go-smtp as
// an *smtp.SMTPError: go-sasl's own errors ("sasl: invalid response") would
// otherwise be sent to the client as 454 with their text.
type authServer struct {
	inner sasl.Server
	sess  *session
}

func (a *authServer) Next(response []byte) ([]byte, bool, error) {
	if bytes.Equal(response, saslMalformed) {
		a.sess.srv.throttle.fail(a.sess.ip)
		return nil, false, a.sess.reject("auth", replyAuthMalformed)
	}
	challenge, done, err := a.inner.Next(response)
	if err == nil {
		if !done && a.sess.fr != nil {
			a.sess.fr.sasl = true // go-smtp reads the response next
		}
		return challenge, done, nil
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return nil, false, se
	}
	a.sess.srv.throttle.fail(a.sess.ip)
	return nil, false, a.sess.reject("auth", replyAuthMalformed)
}

// authenticate is the go-sasl callback shared by PLAIN and LOGIN. The
// attempt is counted before the password is checked, so that parallel
// connections cannot all pass the throttle during the compare.
func (s *session) authenticate(identity, user, pass string) error {
	if !s.srv.throttle.reserve(s.ip) {
		return s.reject("auth", replyAuthThrottled, "user", user)
	}
	var err error
	if identity != "" && identity != user {
		err = errors.New("authorization identity differs from user name")
	} else {
		err = s.srv.opts.Auth.Authenticate(user, pass)
	}
	if err != nil {
		s.srv.log.Warn("authentication failed", "client", s.client, "user", user, "error", err)
		return replyAuthFailed
	}
	s.srv.throttle.refund(s.ip)
	s.mu.Lock()
	s.user = user
	s.mu.Unlock()
	if s.cc != nil {
		s.cc.authenticated()
	}
	s.srv.log.Info("authenticated", "client", s.client, "user", user, "tls", s.tlsAttr())
	return nil
}

// Mail implements smtp.Session. Outside trusted networks only
// authenticated clients may send at all: this listener relays to any
// domain, so that is what keeps it from being an open relay.
func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	params := s.fr.takeMail()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.trusted && s.user == "" {
		return s.reject("mail", replyAuthRequired, "from", from)
	}
	opt, reply := s.mailOptions(&params)
	if reply != nil {
		return s.reject("mail", reply, "from", from)
	}
	if err := s.checkSender(from); err != nil {
		return err
	}
	if err := s.checkRequireTLS(opts); err != nil {
		return err
	}
	if from != "" { // "" is the null sender <>
		nonASCII, err := checkAddress(from)
		if err != nil {
			return s.reject("mail", replyBadAddress(true, err.Error()), "from", from)
		}
		if nonASCII && !opts.UTF8 {
			return s.reject("mail", replyNeedsUTF8, "from", from)
		}
	}
	if !s.inTx {
		if !s.srv.beginTx() {
			return s.reject("mail", replyShuttingDown)
		}
		s.inTx = true
	}
	// Data may run on go-smtp's BDAT goroutine, which must not read the
	// Conn's fields, so the EHLO name is copied here.
	s.helo = s.conn.Hostname()
	s.from, s.utf8, s.rcpts, s.body = from, opts.UTF8, nil, opts.Body
	s.dsn, s.rdsn = mailDSN(opts), nil
	s.requireTLS = opts.RequireTLS
	s.opt = opt
	return nil
}

// Rcpt implements smtp.Session.
func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	nonASCII, err := checkAddress(to)
	if err != nil {
		return s.reject("rcpt", replyBadAddress(false, err.Error()), "rcpt", to)
	}
	if nonASCII && !s.utf8 {
		return s.reject("rcpt", replyNeedsUTF8, "rcpt", to)
	}
	if slices.ContainsFunc(s.rcpts, func(r string) bool { return sameRecipient(r, to) }) {
		return nil // a duplicate: accepted, and the first spelling kept
	}
	// go-smtp enforces MaxRecipients too; this keeps the limit if it ever
	// stops doing so.
	if len(s.rcpts) >= s.srv.opts.MaxRecipients {
		return s.reject("rcpt", replyTooManyRcpts, "rcpt", to)
	}
	s.rcpts = append(s.rcpts, to)
	s.rdsn = append(s.rdsn, rcptDSN(opts))
	return nil
}

// Reset implements smtp.Session: RSET, a new EHLO, and after every DATA.
func (s *session) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endTxLocked()
}

// Logout implements smtp.Session.
func (s *session) Logout() error {
	s.Reset()
	// go-smtp calls Logout as it closes the connection, or after STARTTLS
	// (whose session gets a framer of its own): this framer is done.
	s.srv.releaseFramer(s.fr)
	return nil
}

func (s *session) endTxLocked() {
	if s.inTx {
		s.inTx = false
		s.srv.endTx()
	}
	s.from, s.utf8, s.rcpts = "", false, nil
	s.dsn, s.rdsn = dsnMail{}, nil
	s.requireTLS = false
	s.opt = mailOptions{}
}

// reject logs a refused command with its reason and returns the reply.
func (s *session) reject(stage string, reply *smtp.SMTPError, attrs ...any) *smtp.SMTPError {
	args := append([]any{"stage", stage, "client", s.client, "code", reply.Code,
		"reason", reply.Message}, attrs...)
	s.srv.log.Info("rejected", args...)
	return reply
}

func (s *session) tlsAttr() string {
	if s.tls == "" {
		return "none"
	}
	return s.tls
}
