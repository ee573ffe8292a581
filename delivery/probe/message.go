package probe

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"
)

// errNoCertificate: the server completed a handshake without a certificate.
var errNoCertificate = errors.New("the server sent no certificate")

// auth authenticates with PLAIN, else LOGIN (RFC 4954, RFC 4616). The
// password never reaches the Report: the commands are recorded with it
// replaced.
func (s *session) auth() error {
	if s.rep.TLS == nil && !loopback(s.opts.Addr) {
		return ErrAuthNotSecure
	}
	mechs := s.rep.AuthMechs
	switch {
	case slices.Contains(mechs, "PLAIN"):
		ir := base64.StdEncoding.EncodeToString([]byte("\x00" + s.opts.User + "\x00" + s.opts.Password))
		_, _, err := s.step("AUTH PLAIN "+ir, "AUTH PLAIN (credentials of "+s.opts.User+")", 235)
		return err
	case slices.Contains(mechs, "LOGIN"):
		if _, _, err := s.step("AUTH LOGIN", "AUTH LOGIN", 334); err != nil {
			return err
		}
		if _, _, err := s.step(b64(s.opts.User), "(user name "+s.opts.User+")", 334); err != nil {
			return err
		}
		_, _, err := s.step(b64(s.opts.Password), "(password)", 235)
		return err
	case len(mechs) == 0:
		return errors.New("AUTH: the server offers no AUTH mechanism")
	default:
		return fmt.Errorf("AUTH: none of the offered mechanisms %v is PLAIN or LOGIN", mechs)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func loopback(addr string) bool {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}

// send sends the test message: MAIL, each RCPT, DATA, each reply recorded.
// A rejected recipient is reported and the others still get the message;
// with none accepted the transaction is reset.
func (s *session) send() error {
	if _, _, err := s.step("MAIL FROM:<"+s.opts.From+">", "", 250); err != nil {
		return err
	}
	accepted := 0
	var rcptErr error
	for _, to := range s.opts.To {
		if _, _, err := s.step("RCPT TO:<"+to+">", "", 250); err != nil {
			rcptErr = errors.Join(rcptErr, err)
			continue
		}
		accepted++
	}
	if accepted == 0 {
		s.step("RSET", "", 250) //nolint:errcheck // the RCPT failures are the outcome
		return rcptErr
	}
	if _, _, err := s.step("DATA", "", 354); err != nil {
		return err
	}
	w := s.tp.DotWriter()
	if _, err := w.Write(s.message()); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	code, msg, err := s.read(250)
	s.rep.Steps = append(s.rep.Steps, Step{Command: ".", Code: code, Reply: msg})
	if err != nil {
		return fmt.Errorf("end of DATA: %w", err)
	}
	return rcptErr
}

// message is the generated test message (RFC 5322), lines ending in LF:
// the DotWriter turns them into CRLF.
func (s *session) message() []byte {
	now := time.Now
	if s.opts.Now != nil {
		now = s.opts.Now
	}
	var id [12]byte
	rand.Read(id[:]) //nolint:errcheck // never fails (crypto/rand)
	to := ""
	for i, r := range s.opts.To {
		if i > 0 {
			to += ", "
		}
		to += "<" + r + ">"
	}
	return fmt.Appendf(nil, "From: <%s>\nTo: %s\nSubject: outbox probe test message\nDate: %s\n"+
		"Message-ID: <%x@%s>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n"+
		"A test message sent by outbox probe to %s.\n",
		s.opts.From, to, now().Format(time.RFC1123Z), id, s.opts.Helo, s.opts.Addr)
}
