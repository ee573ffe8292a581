package smtptest

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

type backend struct{ s *Server }

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	b.s.mu.Lock()
	b.s.helos = append(b.s.helos, c.Hostname())
	b.s.mu.Unlock()
	return &session{s: b.s, conn: c}, nil
}

// session records one transaction at a time and applies the hooks.
type session struct {
	s    *Server
	conn *smtp.Conn
	user string
	msg  Message
}

var _ smtp.AuthSession = (*session)(nil)

// hook runs a hook, closing the connection for ErrDrop.
func (ss *session) hook(err error) error {
	if errors.Is(err, ErrDrop) {
		ss.conn.Conn().Close()
	}
	return err
}

func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	if h := ss.s.opts.Mail; h != nil {
		if err := ss.hook(h(from)); err != nil {
			return err
		}
	}
	_, isTLS := ss.conn.TLSConnectionState()
	ss.msg = Message{Helo: ss.conn.Hostname(), TLS: isTLS, AuthUser: ss.user, From: from}
	if opts != nil {
		ss.msg.Opts = *opts
	}
	return nil
}

func (ss *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if h := ss.s.opts.Rcpt; h != nil {
		if err := ss.hook(h(to)); err != nil {
			return err
		}
	}
	ss.msg.Rcpts = append(ss.msg.Rcpts, to)
	var o smtp.RcptOptions
	if opts != nil {
		o = *opts
	}
	ss.msg.RcptOpts = append(ss.msg.RcptOpts, o)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := ss.msg
	m.Rcpts = append([]string(nil), m.Rcpts...)
	m.RcptOpts = append([]smtp.RcptOptions(nil), m.RcptOpts...)
	m.Data = data
	m.Received = time.Now()
	if h := ss.s.opts.Data; h != nil {
		if err := ss.hook(h(&m)); err != nil {
			return err
		}
	}
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, m)
	ss.s.mu.Unlock()
	return nil
}

func (ss *session) Reset()        { ss.msg = Message{} }
func (ss *session) Logout() error { return nil }

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.Users == nil {
		return nil
	}
	if m := ss.s.opts.AuthMechs; m != nil {
		return m
	}
	return []string{sasl.Plain, sasl.Login, "CRAM-MD5"}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if want, ok := ss.s.opts.Users[user]; !ok || want != pass {
			return smtp.ErrAuthFailed
		}
		ss.authOK(mech, user)
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	case "CRAM-MD5":
		return &cramServer{
			users:     ss.s.opts.Users,
			challenge: []byte(fmt.Sprintf("<%d.smtptest@%s>", len(ss.s.Auths())+1, ss.s.opts.Domain)),
			ok:        func(user string) { ss.authOK(mech, user) },
		}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (ss *session) authOK(mech, user string) {
	ss.user = user
	ss.s.mu.Lock()
	ss.s.auths = append(ss.s.auths, Auth{Mech: mech, User: user})
	ss.s.mu.Unlock()
}

// loginServer is the server side of the (obsolete, but common) LOGIN
// mechanism, which go-sasl only has as a client.
type loginServer struct {
	check func(user, pass string) error
	user  string
	step  int
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		if len(resp) > 0 { // initial response: the user name
			l.user = string(resp)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 2:
		l.user = string(resp)
		return []byte("Password:"), false, nil
	case 3:
		return nil, true, l.check(l.user, string(resp))
	}
	return nil, false, sasl.ErrUnexpectedClientResponse
}

// cramServer is the server side of CRAM-MD5 (RFC 2195).
type cramServer struct {
	users     map[string]string
	challenge []byte
	ok        func(user string)
	sent      bool
}

func (c *cramServer) Next(resp []byte) ([]byte, bool, error) {
	if !c.sent {
		c.sent = true
		return c.challenge, false, nil
	}
	user, digest, found := strings.Cut(string(resp), " ")
	pass, known := c.users[user]
	if !found || !known {
		return nil, false, smtp.ErrAuthFailed
	}
	mac := hmac.New(md5.New, []byte(pass))
	mac.Write(c.challenge)
	if !hmac.Equal([]byte(hex.EncodeToString(mac.Sum(nil))), bytes.ToLower([]byte(digest))) {
		return nil, false, smtp.ErrAuthFailed
	}
	c.ok(user)
	return nil, true, nil
}
