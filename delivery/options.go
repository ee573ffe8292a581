package delivery

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"time"
)

// TLSPolicy says how much TLS a session demands.
type TLSPolicy uint8

// TLS policies. The zero value picks the route's default: opportunistic for
// MX hosts, verify for relays.
const (
	TLSDefault       TLSPolicy = iota
	TLSNone                    // never STARTTLS
	TLSOpportunistic           // STARTTLS when offered, certificate not required to verify; plain text if the handshake fails
	TLSRequired                // encrypted or defer; certificate not verified
	TLSVerify                  // encrypted with a certificate valid for the host name, or defer
)

func (p TLSPolicy) String() string {
	switch p {
	case TLSDefault:
		return "default"
	case TLSNone:
		return "none"
	case TLSOpportunistic:
		return "opportunistic"
	case TLSRequired:
		return "required"
	case TLSVerify:
		return "verify"
	}
	return "unknown"
}

// ParseTLSPolicy is the inverse of TLSPolicy.String (for config).
func ParseTLSPolicy(s string) (TLSPolicy, error) {
	for p := TLSDefault; p <= TLSVerify; p++ {
		if strings.EqualFold(s, p.String()) {
			return p, nil
		}
	}
	return 0, fmt.Errorf("delivery: unknown TLS policy %q (none, opportunistic, required, verify)", s)
}

// TLSMode is how a relay connection is encrypted.
type TLSMode uint8

// Relay TLS modes.
const (
	TLSModeStartTLS TLSMode = iota // plain connection upgraded with STARTTLS (port 587 by default)
	TLSModeImplicit                // TLS from the first byte, as on port 465
	TLSModeNone                    // plain text; the only mode that lets PLAIN/LOGIN go in clear
)

func (m TLSMode) String() string {
	switch m {
	case TLSModeStartTLS:
		return "starttls"
	case TLSModeImplicit:
		return "tls"
	case TLSModeNone:
		return "none"
	}
	return "unknown"
}

// ParseTLSMode is the inverse of TLSMode.String (for config).
func ParseTLSMode(s string) (TLSMode, error) {
	for m := TLSModeStartTLS; m <= TLSModeNone; m++ {
		if strings.EqualFold(s, m.String()) {
			return m, nil
		}
	}
	return 0, fmt.Errorf("delivery: unknown TLS mode %q (starttls, tls, none)", s)
}

// RelayServer is one smarthost of a relay.
type RelayServer struct {
	Host string // host name (dialed by name, and the name the certificate must carry)
	// Port; 0 means 465 for TLSModeImplicit, 25 for TLSModeNone, 587 otherwise.
	Port      int
	TLSMode   TLSMode
	TLSPolicy TLSPolicy // for TLSModeStartTLS and TLSModeImplicit; default TLSVerify
	Username  string    // AUTH is attempted only when set
	Password  string
	// ClientCert, when set, is presented during the TLS handshake.
	ClientCert *tls.Certificate
	// RootCAs verifies the server certificate; nil means the system pool.
	RootCAs *x509.CertPool
}

func (s RelayServer) port() int {
	switch {
	case s.Port != 0:
		return s.Port
	case s.TLSMode == TLSModeImplicit:
		return 465
	case s.TLSMode == TLSModeNone:
		return 25
	}
	return 587
}

// Direct is the route value meaning "deliver to the domain's MX hosts".
const Direct = "direct"

// Timeouts bound every network step. Zero fields take the defaults of RFC
// 5321 §4.5.3.2 (see DefaultTimeouts).
type Timeouts struct {
	Connect      time.Duration // TCP connect; default 30s
	TLSHandshake time.Duration // default 30s
	Greeting     time.Duration // initial 220; default 5m
	Command      time.Duration // EHLO, STARTTLS, AUTH, RSET, QUIT; default 5m
	Mail         time.Duration // MAIL FROM reply; default 5m
	Rcpt         time.Duration // each RCPT TO reply; default 5m
	Data         time.Duration // DATA initiation (354); default 2m
	DataBlock    time.Duration // each write of the body; default 3m
	FinalDot     time.Duration // reply after the final dot; default 10m
}

// DefaultTimeouts returns the RFC 5321 §4.5.3.2 values plus connect and
// TLS handshake limits.
func DefaultTimeouts() Timeouts {
	return Timeouts{
		Connect:      30 * time.Second,
		TLSHandshake: 30 * time.Second,
		Greeting:     5 * time.Minute,
		Command:      5 * time.Minute,
		Mail:         5 * time.Minute,
		Rcpt:         5 * time.Minute,
		Data:         2 * time.Minute,
		DataBlock:    3 * time.Minute,
		FinalDot:     10 * time.Minute,
	}
}

func (t Timeouts) withDefaults() Timeouts {
	dt := DefaultTimeouts()
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&t.Connect, dt.Connect)
	def(&t.TLSHandshake, dt.TLSHandshake)
	def(&t.Greeting, dt.Greeting)
	def(&t.Command, dt.Command)
	def(&t.Mail, dt.Mail)
	def(&t.Rcpt, dt.Rcpt)
	def(&t.Data, dt.Data)
	def(&t.DataBlock, dt.DataBlock)
	def(&t.FinalDot, dt.FinalDot)
	return t
}

// Defaults for the Deliverer's limits.
const (
	DefaultPort               = 25
	DefaultMaxPerDestination  = 20
	DefaultMaxConns           = 200
	DefaultIdleTimeout        = 30 * time.Second
	DefaultMaxMessagesPerConn = 100
	// DefaultMaxRcptsPerTx is Postfix's default_destination_recipient_limit
	// (the default of smtp_destination_recipient_limit): 50 recipients per
	// transaction.
	DefaultMaxRcptsPerTx = 50
)
