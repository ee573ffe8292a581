package store

import "time"

// State is where one recipient of a message stands.
type State uint8

// Recipient states. Delivered and Bounced are final: a recipient in a final
// state is never attempted again. Expired recipients are Bounced with an
// "expired" diagnostic.
const (
	StateQueued    State = iota + 1 // waiting for its first attempt
	StateDeferred                   // a temporary failure; retried at NextAttempt
	StateDelivered                  // the remote server accepted it (final)
	StateBounced                    // permanently failed (final)
	StateHeld                       // an operator put the message on hold
)

// Final reports whether no further delivery attempt will be made.
func (s State) Final() bool { return s == StateDelivered || s == StateBounced }

// String returns the lower-case name used in the CLI and JSON.
func (s State) String() string {
	switch s {
	case StateQueued:
		return "queued"
	case StateDeferred:
		return "deferred"
	case StateDelivered:
		return "delivered"
	case StateBounced:
		return "bounced"
	case StateHeld:
		return "held"
	}
	return "unknown"
}

// ParseState is the inverse of State.String.
func ParseState(s string) (State, bool) {
	for st := StateQueued; st <= StateHeld; st++ {
		if st.String() == s {
			return st, true
		}
	}
	return 0, false
}

// Message is the envelope and per-recipient state of one accepted message.
// Its body is stored separately (see Body and DB.OpenBody).
type Message struct {
	ID         string      // assigned by the store (Body.ID)
	From       string      // envelope sender; "" is the null sender <>
	Recipients []Recipient // in RCPT order
	Size       int64       // body size in bytes, as stored
	Received   time.Time   // when the message was accepted
	Client     string      // remote address of the submitting client
	User       string      // authenticated user; "" when trusted by network
	// AtLeastOne overrides the configured at-least-one policy for this
	// message when non-nil (see the delivery package).
	AtLeastOne *bool
	// SMTPUTF8 is set when the message was submitted with the SMTPUTF8
	// parameter (RFC 6531): delivery must use the extension too.
	SMTPUTF8 bool
	// DSNPending is set when a recipient bounced and the delivery status
	// notification to From has not been queued yet.
	DSNPending bool
	// DelayWarned is set once the sender has been sent a delay warning
	// (config delivery.delay_warning), so it is sent once per message.
	DelayWarned bool
	// DSNID is the ID of the message that carries this message's bounce
	// notification, once it has been queued.
	DSNID string
	// Prefix is stored bytes that go in front of the body: header fields
	// computed after the body was streamed (DKIM-Signature, added by the
	// listener). The store treats it as opaque. It is an input to Enqueue
	// and is kept beside the body, not in the record, so Get, List and
	// Update leave it nil; OpenBody returns it followed by the body, and
	// Size counts it.
	Prefix []byte
	// Signed describes each signature in Prefix for operators
	// ("example.com/sel1 (ed25519-sha256)"); nil when unsigned.
	Signed []string
	// BodyType is the MAIL BODY= parameter the message was submitted with
	// (RFC 6152), or what the listener found in the body.
	BodyType BodyType
	// EnvID is the DSN envelope identifier (RFC 3461 §4.4, MAIL ENVID=),
	// decoded from xtext; "" when none was given.
	EnvID string
	// Ret is the DSN RET= parameter (RFC 3461 §4.3): how much of the
	// message a failure notice returns.
	Ret DSNRet
	// DeliverAfter is the scheduled send time (HTTP deliver_after, SMTP
	// FUTURERELEASE, RFC 4865): no attempt before it. Zero: at once. The
	// message's lifetime and delay warnings count from it (see Start).
	DeliverAfter time.Time
	// ExpireAt is the time by which delivery is given up (HTTP
	// expire_at): a recipient still not delivered then bounces as expired,
	// as at the end of the configured lifetime. Zero: the lifetime only.
	ExpireAt time.Time
	// Tags are the submitter's short labels, kept for its own use.
	Tags []string
	// Metadata is the submitter's key/value data, kept for its own use.
	Metadata map[string]string
	// TLSReq is the message's TLS requirement (RFC 8689): REQUIRETLS, or
	// a "TLS-Required: No" header; TLSReqNone for neither.
	TLSReq TLSReq
}

// TLSReq is a message's own TLS requirement (RFC 8689).
type TLSReq uint8

// TLS requirements. The zero value is a message with none.
const (
	TLSReqNone     TLSReq = iota
	TLSReqRequire         // MAIL ... REQUIRETLS (RFC 8689 §4.1)
	TLSReqOptional        // "TLS-Required: No" (RFC 8689 §5)
)

// String is the form of the CLI and JSON: "requiretls", "no", or "" for
// TLSReqNone.
func (r TLSReq) String() string {
	switch r {
	case TLSReqRequire:
		return "requiretls"
	case TLSReqOptional:
		return "no"
	}
	return ""
}

// ParseTLSReq is the inverse of TLSReq.String; anything else is
// TLSReqNone.
func ParseTLSReq(s string) TLSReq {
	switch s {
	case "requiretls":
		return TLSReqRequire
	case "no":
		return TLSReqOptional
	}
	return TLSReqNone
}

// Start is when the message's delivery starts: DeliverAfter when it is
// later than Received, else Received. Its lifetime counts from Start.
func (m *Message) Start() time.Time {
	if m.DeliverAfter.After(m.Received) {
		return m.DeliverAfter
	}
	return m.Received
}

// BodyType is the body's declared or detected transfer type (RFC 6152).
type BodyType uint8

// Body types. The zero value is a record written before the type was kept.
const (
	BodyUnknown  BodyType = iota
	Body7Bit              // only octets 1-127 in lines of at most 998
	Body8BitMIME          // 8-bit octets: needs 8BITMIME at the next hop, or a 7-bit form
)

// DSNRet is the RET= parameter of MAIL (RFC 3461 §4.3).
type DSNRet uint8

// RET values; RetUnset lets the notice builder choose.
const (
	RetUnset DSNRet = iota
	RetFull
	RetHdrs
)

// DSNNotify is the NOTIFY= parameter of one RCPT (RFC 3461 §4.1), a set of
// bits; zero means the parameter was not given (notify on failure, and on
// delay at the MTA's discretion).
type DSNNotify uint8

// NOTIFY bits. NotifyNever is exclusive of the others.
const (
	NotifyNever DSNNotify = 1 << iota
	NotifySuccess
	NotifyFailure
	NotifyDelay
)

// Recipient is one envelope recipient and its delivery state.
type Recipient struct {
	Addr        string
	State       State
	Attempts    int       // delivery attempts made for this recipient
	LastReply   string    // the last SMTP reply or local error, for operators
	NextAttempt time.Time // when a queued/deferred recipient is next due
	History     []Attempt // most recent attempts, oldest first, capped (see MaxHistory)
	// Notify is the RCPT NOTIFY= parameter (RFC 3461 §4.1); 0 when absent.
	Notify DSNNotify
	// ORcpt is the RCPT ORCPT= parameter (RFC 3461 §4.2) as
	// "addr-type;address" with the xtext decoded; "" when absent.
	ORcpt string
}

// MaxHistory caps Recipient.History so records stay small on long retries.
const MaxHistory = 10

// Attempt records one delivery attempt for one recipient.
type Attempt struct {
	Time     time.Time
	Host     string // remote host name and address, "mx.example.com[192.0.2.1]:25"
	TLS      string // "TLS1.3 TLS_AES_128_GCM_SHA256 verified", "none", ...
	Code     int    // SMTP reply code; 0 when no reply (connection failure)
	Enhanced string // enhanced status code, "5.1.1"; "" when none
	Reply    string // reply text or local error text
	Result   State  // StateDelivered, StateDeferred or StateBounced
	// TLSInfo is the TLS outcome beyond TLS: what verified the peer, the
	// policy applied and the RFC 8460 failure type; zero when none.
	TLSInfo AttemptTLS
}

// AttemptTLS is the TLS outcome of an attempt beyond its version and
// cipher (Attempt.TLS). The store keeps it as text.
type AttemptTLS struct {
	VerifiedBy string // "none", "webpki", "mta-sts", "dane"; "" when not recorded
	Policy     string // "mta-sts enforce example.com", "none"
	Failure    string // RFC 8460 §4.3 result type and detail; "" when none
}

// Bounce is one row of the bounce log: a recipient that failed permanently.
type Bounce struct {
	Time     time.Time
	MsgID    string
	From     string
	Rcpt     string
	Host     string
	Code     int
	Enhanced string
	Diag     string
	Attempts int
}

// Pending reports whether any recipient still awaits delivery (not final and
// not held).
func (m *Message) Pending() bool {
	for i := range m.Recipients {
		if s := m.Recipients[i].State; !s.Final() && s != StateHeld {
			return true
		}
	}
	return false
}

// Done reports whether every recipient is final.
func (m *Message) Done() bool {
	for i := range m.Recipients {
		if !m.Recipients[i].State.Final() {
			return false
		}
	}
	return true
}

// NextAttempt is the earliest NextAttempt among pending recipients, and false
// when none is pending. The due index is keyed by it.
func (m *Message) NextAttempt() (time.Time, bool) {
	var t time.Time
	ok := false
	for i := range m.Recipients {
		r := &m.Recipients[i]
		if r.State.Final() || r.State == StateHeld {
			continue
		}
		if !ok || r.NextAttempt.Before(t) {
			t, ok = r.NextAttempt, true
		}
	}
	return t, ok
}
