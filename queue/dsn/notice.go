package dsn

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors returned by Build. Every validation failure wraps ErrInvalid and
// names the offending field; the scheduler logs it and drops the notice
// rather than retrying, since the input will not get better.
var (
	// ErrNullSender is returned for a message whose envelope sender is the
	// null sender <>: a notice is never sent about a notice (RFC 5321
	// §4.5.5, RFC 3464 §2), or bounces could loop forever.
	ErrNullSender = errors.New("dsn: original sender is the null sender")
	// ErrNoRecipients is returned when the notice reports no recipient.
	ErrNoRecipients = errors.New("dsn: no recipients to report")
	// ErrInvalid is wrapped by every error about a malformed Notice field.
	ErrInvalid = errors.New("dsn: invalid notice")
)

// Action is what happened to a recipient, the Action field of RFC 3464
// §2.3.3. Outbox reports the three it can know of: it never delivers to a
// mailbox itself, so its success notice is "relayed" (RFC 3461 §6.2.1:
// the next hop does not offer DSN and will send no notice of its own).
type Action string

// Actions.
const (
	Failed  Action = "failed"  // delivery failed for good (bounced or expired)
	Delayed Action = "delayed" // not delivered yet; still being retried
	Relayed Action = "relayed" // handed to a next hop that does not offer DSN (NOTIFY=SUCCESS)
)

// Notice is everything a delivery status notification reports about one
// message. It is plain data so the scheduler can fill it from its own
// records; Build turns it into the notice's bytes.
type Notice struct {
	// ReportingMTA is this host's name, as it appears in Reporting-MTA
	// ("dns; mx.example.com") and in the From address MAILER-DAEMON@host.
	// An ASCII host name (A-labels for IDNs).
	ReportingMTA string
	// QueueID is the original message's spool ID, reported as the
	// X-Outbox-Queue-ID extension field (RFC 3464 §2.4) so an operator can
	// find it with `outbox queue show`. Optional.
	QueueID string
	// EnvelopeID is the ENVID the submitter gave in MAIL FROM (RFC 3461
	// §4.4), echoed as Original-Envelope-Id. Optional; it is not the spool
	// ID, which the submitter never saw.
	EnvelopeID string
	// Sender is the original envelope sender: the notice is addressed to
	// it. "" (the null sender) makes Build return ErrNullSender.
	Sender string
	// Arrival is when the original message was accepted (Arrival-Date).
	// The zero time omits the field.
	Arrival time.Time
	// Now is the notice's Date. The zero time means time.Now(); tests set
	// it for reproducible output.
	Now time.Time
	// Recipients are the recipients the notice reports, in order: failed
	// and delayed ones may be mixed (the subject then says undelivered).
	Recipients []Recipient
	// Headers is the original message's header block, returned as the
	// third part. The raw message may be given: only the part before the
	// first empty line is used, never the body, and it is capped at
	// MaxHeaderBytes (see CleanHeaders). Empty omits the part.
	Headers []byte
	// Full is the whole original message, for a sender that asked for it
	// with RET=FULL (RFC 3461 §4.3). A notice that reports a failure then
	// returns it as a message/rfc822 part instead of the header block,
	// when it is complete (FullComplete), at most MaxReturnBytes, and
	// 7-bit text in lines of at most 998 octets (the notice itself must
	// stay sendable anywhere); otherwise the header block is returned and
	// the explanation says why. Other notices return the header block
	// only.
	Full []byte
	// FullComplete says that Full is the whole message, not its first
	// MaxReturnBytes (see ReadMessage).
	FullComplete bool
	// Boundary seeds the MIME boundary; empty means a random one. Build
	// alters it when it would occur in the content, so any seed is safe.
	// Tests set it for reproducible output.
	Boundary string
	// MessageID is the notice's Message-ID without angle brackets; empty
	// means a random one at ReportingMTA. Tests set it.
	MessageID string
}

// Recipient is the status of one recipient of the original message.
type Recipient struct {
	// Addr is the envelope recipient (Final-Recipient).
	Addr string
	// Original is the recipient's ORCPT parameter (RFC 3461 §4.2) as
	// "addr-type;address", reported as Original-Recipient (RFC 3464
	// §2.3.1); "" omits it.
	Original string
	Action   Action
	// Status is the RFC 3463 enhanced status code, "5.1.1". When empty or
	// malformed it is derived from Code's class, else from Action (5.0.0,
	// 4.0.0). An expired recipient may keep the 4.x.x of its last error,
	// or better report 4.4.7 / 5.4.7 "delivery time expired".
	Status string
	// RemoteMTA is the host name of the server that gave the diagnostic
	// ("mx.example.net"), reported as Remote-MTA; "" omits it. See HostName
	// for turning an attempt's "host[addr]:port" into one.
	RemoteMTA string
	// Code is the SMTP reply code of the remote diagnostic; 0 means the
	// failure was local (DNS, connection, TLS) and there was no reply.
	Code int
	// Diagnostic is the remote reply as received, code included ("550
	// 5.1.1 user unknown"), reported as "Diagnostic-Code: smtp; ..."; or,
	// with Code 0, the local error text, reported with the diagnostic type
	// "X-Outbox". Control characters and line breaks are flattened and it
	// is capped at MaxDiagnosticBytes.
	Diagnostic string
	// LastAttempt is the time of the last delivery attempt; zero omits it.
	LastAttempt time.Time
	// WillRetryUntil is when a delayed recipient will be given up
	// (Will-Retry-Until); ignored for failed ones; zero omits it.
	WillRetryUntil time.Time
}

// MaxAddrBytes caps an address: RFC 5321 §4.5.3.1 allows a 64-octet local
// part and a 255-octet domain.
const MaxAddrBytes = 64 + 1 + 255

// SMTPUTF8 reports whether the notice must be sent with the SMTPUTF8
// extension (RFC 6531): it is addressed to a non-ASCII sender. The notice is
// then 8-bit throughout; otherwise Build keeps it 7-bit, encoding any
// non-ASCII part as quoted-printable, so it can be sent anywhere.
func (n *Notice) SMTPUTF8() bool { return !isASCII(n.Sender) }

// validate checks everything Build relies on and reports the first problem.
func (n *Notice) validate() error {
	if n.Sender == "" {
		return ErrNullSender
	}
	if len(n.Recipients) == 0 {
		return ErrNoRecipients
	}
	if err := checkHost(n.ReportingMTA); err != nil {
		return fmt.Errorf("%w: ReportingMTA %q: %v", ErrInvalid, n.ReportingMTA, err)
	}
	if err := checkAddr(n.Sender); err != nil {
		return fmt.Errorf("%w: Sender: %v", ErrInvalid, err)
	}
	if err := checkToken(n.QueueID, 128); err != nil {
		return fmt.Errorf("%w: QueueID: %v", ErrInvalid, err)
	}
	// RFC 3461 §4.4: ENVID is xtext of at most 100 characters.
	if err := checkToken(n.EnvelopeID, 100); err != nil {
		return fmt.Errorf("%w: EnvelopeID: %v", ErrInvalid, err)
	}
	if err := checkToken(n.MessageID, 250); err != nil {
		return fmt.Errorf("%w: MessageID: %v", ErrInvalid, err)
	}
	for i := range n.Recipients {
		r := &n.Recipients[i]
		if err := checkAddr(r.Addr); err != nil {
			return fmt.Errorf("%w: recipient %d: %v", ErrInvalid, i, err)
		}
		if r.Action != Failed && r.Action != Delayed && r.Action != Relayed {
			return fmt.Errorf("%w: recipient %d: unknown action %q", ErrInvalid, i, r.Action)
		}
		if r.Code != 0 && (r.Code < 200 || r.Code > 599) {
			return fmt.Errorf("%w: recipient %d: reply code %d out of range", ErrInvalid, i, r.Code)
		}
		if r.Original != "" {
			if err := checkOriginal(r.Original); err != nil {
				return fmt.Errorf("%w: recipient %d: Original %q: %v", ErrInvalid, i, r.Original, err)
			}
		}
		if r.RemoteMTA != "" {
			if err := checkHost(r.RemoteMTA); err != nil {
				return fmt.Errorf("%w: recipient %d: RemoteMTA %q: %v", ErrInvalid, i, r.RemoteMTA, err)
			}
		}
	}
	return nil
}

// checkAddr accepts what an SMTP path can carry: 1..MaxAddrBytes octets of
// valid UTF-8 without controls or angle brackets. Full RFC 5321 syntax was
// checked when the message was accepted; this only keeps the notice's
// structure safe.
func checkAddr(a string) error {
	switch {
	case a == "":
		return errors.New("empty address")
	case len(a) > MaxAddrBytes:
		return fmt.Errorf("address longer than %d octets", MaxAddrBytes)
	case !utf8.ValidString(a):
		return errors.New("address is not valid UTF-8")
	}
	for _, r := range a {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '<' || r == '>' {
			return fmt.Errorf("address %q has a forbidden character %U", a, r)
		}
	}
	return nil
}

// checkOriginal accepts "addr-type;address" (RFC 3464 §2.3.1) with an
// atom for the type and an address checkAddr accepts.
func checkOriginal(o string) error {
	typ, addr, ok := strings.Cut(o, ";")
	if !ok || typ == "" {
		return errors.New(`want "addr-type;address"`)
	}
	for i := 0; i < len(typ); i++ {
		c := typ[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("character %q not allowed in an address type", c)
		}
	}
	return checkAddr(strings.TrimSpace(addr))
}

// checkHost accepts an ASCII host name of letters, digits, '-', '_' and
// '.', or an address literal such as "[192.0.2.1]" or "[IPv6:2001:db8::1]".
func checkHost(h string) error {
	if h == "" || len(h) > 255 {
		return errors.New("host name must be 1 to 255 octets")
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '[' || c == ']' || c == ':') {
			return fmt.Errorf("character %q not allowed in a host name", c)
		}
	}
	return nil
}

// checkToken accepts an optional run of printable ASCII without spaces.
func checkToken(s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("longer than %d octets", max)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f || s[i] == '<' || s[i] == '>' {
			return fmt.Errorf("character %q not allowed", s[i])
		}
	}
	return nil
}
