package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"time"
)

// DefaultTimeout bounds each network step when Options.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// ErrAuthNotSecure: credentials were given but the session is neither
// encrypted nor on loopback, so AUTH was not attempted.
var ErrAuthNotSecure = errors.New("probe: AUTH refused on an unencrypted connection to a non-loopback address")

// Options describe one probe.
type Options struct {
	// Addr is the "host:port" to connect to.
	Addr string
	// Host is the name the certificate is verified against and sent as SNI;
	// "" means the host part of Addr. An IP address is matched against the
	// certificate's IP SANs and sends no SNI (RFC 6066 §3).
	Host string
	// Helo is the name sent with EHLO; "" means "localhost".
	Helo string
	// ImplicitTLS starts TLS before the greeting (port 465, RFC 8314).
	ImplicitTLS bool
	// NoTLS skips STARTTLS even when offered.
	NoTLS bool
	// RootCAs verifies the server's chain; nil means the system roots.
	RootCAs *x509.CertPool
	// Timeout bounds each network step; zero means DefaultTimeout.
	Timeout time.Duration
	// User and Password, when User is set, are used for AUTH PLAIN (or
	// LOGIN when PLAIN is not offered).
	User, Password string
	// From and To, when To is set, send a small generated test message.
	From string
	To   []string
	// Dialer connects; nil means a net.Dialer.
	Dialer interface {
		DialContext(ctx context.Context, network, addr string) (net.Conn, error)
	}
	// DANE, when set, checks the chain against the host's TLSA records
	// too (TLS.DANE).
	DANE DANECheck
	// Now stamps the test message; nil means time.Now.
	Now func() time.Time
}

// Report is what one probe saw. Fields are empty for steps not reached.
type Report struct {
	Host      string   `json:"host"`
	Addr      string   `json:"addr"`
	Connected bool     `json:"connected"` // the TCP connection was made
	Greeting  string   `json:"greeting,omitempty"`
	EHLO      []string `json:"ehlo,omitempty"`           // the EHLO reply's lines, in the clear (or over implicit TLS)
	STARTTLS  bool     `json:"starttls"`                 // the server offered STARTTLS
	TLS       *TLS     `json:"tls,omitempty"`            // nil: no TLS
	EHLOAfter []string `json:"ehlo_after_tls,omitempty"` // the EHLO reply's lines after STARTTLS
	AuthMechs []string `json:"auth_mechanisms,omitempty"`
	Steps     []Step   `json:"steps,omitempty"` // AUTH and the test message, each command with its reply
	Error     string   `json:"error,omitempty"`
}

// TLS describes the negotiated TLS session.
type TLS struct {
	Version     string `json:"version"`
	Cipher      string `json:"cipher"`
	ServerName  string `json:"server_name"` // the name verified against
	Verified    bool   `json:"verified"`
	VerifyError string `json:"verify_error,omitempty"`
	Chain       []Cert `json:"chain"`
	DANE        *DANE  `json:"dane,omitempty"` // nil: no DANE check asked for
}

// Cert is one certificate of the chain the server sent, leaf first.
type Cert struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	DNSNames  []string  `json:"dns_names,omitempty"`
	IPs       []string  `json:"ip_addresses,omitempty"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
}

// Step is one command and the server's reply. Credentials are never
// written into Command.
type Step struct {
	Command string `json:"command"`
	Code    int    `json:"code"`
	Reply   string `json:"reply"`
}

// session is one probe's connection.
type session struct {
	opts Options
	conn net.Conn
	tp   *textproto.Conn
	rep  *Report
}

// Probe runs one session with opts and reports it. See the package
// documentation for the contract.
func Probe(ctx context.Context, opts Options) (*Report, error) {
	if opts.Host == "" {
		h, _, err := net.SplitHostPort(opts.Addr)
		if err != nil {
			return &Report{Addr: opts.Addr, Error: err.Error()}, fmt.Errorf("probe: address %q: %w", opts.Addr, err)
		}
		opts.Host = h
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Helo == "" {
		opts.Helo = "localhost"
	}
	s := &session{opts: opts, rep: &Report{Host: opts.Host, Addr: opts.Addr}}
	err := s.run(ctx)
	if s.conn != nil {
		s.conn.Close()
	}
	if err != nil {
		s.rep.Error = err.Error()
	}
	return s.rep, err
}

func (s *session) run(ctx context.Context) error {
	if err := s.dial(ctx); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { s.conn.Close() })
	defer stop()
	if s.opts.ImplicitTLS {
		if err := s.handshake(ctx); err != nil {
			return err
		}
	}
	code, msg, err := s.read(0)
	s.rep.Greeting = fmt.Sprintf("%d %s", code, msg)
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	if code != 220 {
		return fmt.Errorf("greeting refused: %d %s", code, msg)
	}
	lines, err := s.ehlo()
	s.rep.EHLO = lines
	if err != nil {
		return err
	}
	s.rep.STARTTLS = hasKeyword(lines, "STARTTLS")
	if s.rep.STARTTLS && !s.opts.ImplicitTLS && !s.opts.NoTLS {
		if err := s.startTLS(ctx); err != nil {
			return err
		}
		lines, err = s.ehlo()
		s.rep.EHLOAfter = lines
		if err != nil {
			return err
		}
	}
	s.rep.AuthMechs = authMechs(lines)
	if s.opts.User != "" {
		if err := s.auth(); err != nil {
			return err
		}
	}
	if len(s.opts.To) > 0 {
		if err := s.send(); err != nil {
			return err
		}
	}
	s.cmd("QUIT", 221) //nolint:errcheck // the report is complete; a rude QUIT changes nothing
	return nil
}

func (s *session) dial(ctx context.Context) error {
	d := s.opts.Dialer
	if d == nil {
		d = &net.Dialer{}
	}
	dctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	c, err := d.DialContext(dctx, "tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("connect %s: %w", s.opts.Addr, err)
	}
	s.conn = c
	s.tp = textproto.NewConn(c)
	s.rep.Connected = true
	return nil
}

// read reads one reply, within the step timeout. want 0 accepts any code.
func (s *session) read(want int) (int, string, error) {
	s.conn.SetDeadline(time.Now().Add(s.opts.Timeout)) //nolint:errcheck // a closed conn fails the read
	code, msg, err := s.tp.ReadResponse(want)
	var perr *textproto.Error
	if errors.As(err, &perr) {
		return code, msg, fmt.Errorf("%d %s", perr.Code, perr.Msg)
	}
	return code, msg, err
}

// cmd sends line and reads the reply, which must have code want (a
// prefix: 2 for any 2xx). shown is what the Report records as the command.
func (s *session) cmdShown(line, shown string, want int) (int, string, error) {
	s.conn.SetDeadline(time.Now().Add(s.opts.Timeout)) //nolint:errcheck // a closed conn fails the write
	if err := s.tp.PrintfLine("%s", line); err != nil {
		return 0, "", fmt.Errorf("%s: %w", shown, err)
	}
	code, msg, err := s.read(want)
	if err != nil {
		return code, msg, fmt.Errorf("%s: %w", shown, err)
	}
	return code, msg, nil
}

func (s *session) cmd(line string, want int) (int, string, error) {
	return s.cmdShown(line, line, want)
}

// step is cmd that records the exchange in the Report.
func (s *session) step(line, shown string, want int) (int, string, error) {
	if shown == "" {
		shown = line
	}
	code, msg, err := s.cmdShown(line, shown, want)
	s.rep.Steps = append(s.rep.Steps, Step{Command: shown, Code: code, Reply: msg})
	return code, msg, err
}

func (s *session) ehlo() ([]string, error) {
	_, msg, err := s.cmd("EHLO "+s.opts.Helo, 250)
	if err != nil {
		return nil, err
	}
	return strings.Split(msg, "\n"), nil
}

func (s *session) startTLS(ctx context.Context) error {
	if _, _, err := s.cmd("STARTTLS", 220); err != nil {
		return err
	}
	return s.handshake(ctx)
}

// handshake runs TLS over the connection without verifying (see the
// package documentation), then verifies the chain for the Report.
func (s *session) handshake(ctx context.Context) error {
	cfg := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // verified below, reported rather than refused
	if net.ParseIP(s.opts.Host) == nil {
		cfg.ServerName = s.opts.Host
	}
	tc := tls.Client(s.conn, cfg)
	hctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	s.conn = tc
	s.tp = textproto.NewConn(tc)
	s.rep.TLS = describe(tc.ConnectionState(), s.opts.Host, s.opts.RootCAs)
	if s.opts.DANE != nil {
		s.rep.TLS.DANE = s.opts.DANE(tc.ConnectionState().PeerCertificates)
	}
	return nil
}

// hasKeyword reports whether an EHLO reply (first line the greeting, then
// one extension per line, RFC 5321 §4.1.1.1) offers keyword.
func hasKeyword(lines []string, keyword string) bool {
	for i, l := range lines {
		f := strings.Fields(l)
		if i > 0 && len(f) > 0 && strings.EqualFold(f[0], keyword) {
			return true
		}
	}
	return false
}

// authMechs lists the mechanisms of the EHLO reply's AUTH line (RFC 4954
// §3), upper case.
func authMechs(lines []string) []string {
	for i, l := range lines {
		f := strings.Fields(l)
		if i > 0 && len(f) > 0 && strings.EqualFold(f[0], "AUTH") {
			var mechs []string
			for _, m := range f[1:] {
				mechs = append(mechs, strings.ToUpper(m))
			}
			return mechs
		}
	}
	return nil
}
