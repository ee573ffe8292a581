package delivery

import (
	"io"
	"strconv"

	"github.com/outbox-mta/outbox/delivery/tlspolicy"
)

// Envelope is one outbound SMTP transaction to make: one sender and the
// recipients of one destination domain.
type Envelope struct {
	MsgID  string   // spool ID, for logs
	From   string   // envelope sender; "" is the null sender
	Domain string   // destination domain, shared by every recipient
	Rcpts  []string // recipients, all in Domain
	// AtLeastOne: true sends DATA when at least one recipient was accepted;
	// false sends DATA only when every recipient was accepted (RSET otherwise).
	AtLeastOne bool
	// Body opens the message body; it may be called once per host tried.
	Body func() (io.ReadCloser, error)
	Size int64
	// SMTPUTF8: the submitter asked for the SMTPUTF8 extension (RFC 6531).
	// It is used where the server offers it; elsewhere the message goes
	// without it unless it needs it: a non-ASCII envelope address (which
	// implies it anyway) or header field.
	SMTPUTF8 bool
	// EnvID and Ret are the DSN parameters of MAIL (RFC 3461 §4.3, §4.4):
	// the envelope ID (decoded xtext) and "FULL", "HDRS" or "". They are
	// passed on only to a next hop that offers DSN.
	EnvID, Ret string
	// DSN holds the DSN parameters of each recipient, parallel to Rcpts;
	// nil when no recipient has any.
	DSN []RcptDSN
	// EightBit: the body may hold 8-bit octets (RFC 6152). It is sent in
	// its 7-bit form to a server without 8BITMIME.
	EightBit bool
	// MaxRcptsPerTx and MaxMsgsPerConn lower the Deliverer's own limits
	// (Options.MaxRcptsPerTx, MaxMessagesPerConn) for this destination;
	// 0 keeps them.
	MaxRcptsPerTx, MaxMsgsPerConn int
	// RequireTLS: the message was submitted with REQUIRETLS (RFC 8689): it
	// goes only over TLS verified by MTA-STS or DANE to a server offering
	// REQUIRETLS, and bounces with 5.7.10 otherwise.
	RequireTLS bool
	// TLSRequiredNo: the message carries "TLS-Required: No" (RFC 8689 §5):
	// TLS policy failures and the downgrade memory do not stop it.
	TLSRequiredNo bool
}

// RcptDSN is the DSN parameters of one RCPT (RFC 3461 §4.1, §4.2).
type RcptDSN struct {
	// Notify is the NOTIFY list: "NEVER", or some of "SUCCESS",
	// "FAILURE", "DELAY"; nil when not given.
	Notify []string
	// ORcpt is "addr-type;address" with the address decoded
	// ("rfc822;user@example.com"); "" when not given.
	ORcpt string
}

// Status is the outcome for one recipient of an attempt.
type Status uint8

// Recipient outcomes.
const (
	Delivered Status = iota + 1 // the remote server accepted the message for it
	Deferred                    // temporary failure: retry later
	Bounced                     // permanent failure: bounce
)

func (s Status) String() string {
	switch s {
	case Delivered:
		return "delivered"
	case Deferred:
		return "deferred"
	case Bounced:
		return "bounced"
	}
	return "unknown"
}

// Reply is an SMTP reply, or a local error dressed as one (Code 0).
type Reply struct {
	Code     int    // 0 when there was no reply (connection failure, DNS error)
	Enhanced string // "5.1.1"; "" when none
	Text     string
}

func (r Reply) String() string {
	switch {
	case r.Code == 0:
		return r.Text
	case r.Enhanced == "":
		return strconv.Itoa(r.Code) + " " + r.Text
	}
	return strconv.Itoa(r.Code) + " " + r.Enhanced + " " + r.Text
}

// RcptResult is the outcome of an attempt for one recipient.
type RcptResult struct {
	Rcpt   string
	Status Status
	Reply  Reply
	// NextHopDSN is set for a delivered recipient when the server offered
	// DSN (RFC 3461): it received the recipient's DSN parameters and any
	// success notice is now its to send.
	NextHopDSN bool
	// AtRcpt is set when Reply is the server's refusal of this recipient
	// at RCPT TO, its own answer, rather than a reply to the whole
	// transaction (MAIL FROM, DATA) or a local error. The queue's
	// suppression list learns only from such replies.
	AtRcpt bool
}

// Result is the outcome of one Deliver call. Rcpts has exactly one entry per
// Envelope.Rcpts, in the same order.
type Result struct {
	Host string // "mx.example.com[127.0.0.2]:25" of the last host tried; "" when none
	TLS  string // "TLS1.3 TLS_AES_128_GCM_SHA256 verified", "none"
	// TLSOutcome is the TLS outcome of the session used, or of the TLS
	// failure that decided the attempt: version, cipher, what verified the
	// peer, the policy applied and any RFC 8460 failure type.
	TLSOutcome tlspolicy.Outcome
	Rcpts      []RcptResult
	// DestinationDown is set when no host of the destination could be
	// reached (connect failure, 421 or 4xx greeting on every host): the
	// caller backs off the whole destination.
	DestinationDown bool
	// Ambiguous is set when the connection was lost after the final dot:
	// the message may or may not have been delivered; it is deferred.
	Ambiguous bool
}

// part is the envelope of env's recipients [i, j), for one transaction or
// one attempt.
func (env *Envelope) part(i, j int) *Envelope {
	p := *env
	p.Rcpts = env.Rcpts[i:j]
	p.DSN = nil
	if len(env.DSN) >= j {
		p.DSN = env.DSN[i:j]
	}
	return &p
}

// part is a Result whose Rcpts are res.Rcpts[i:j], sharing their storage:
// what is recorded in it is recorded in res.
func (res *Result) part(i, j int) *Result {
	return &Result{Host: res.Host, TLS: res.TLS, TLSOutcome: res.TLSOutcome, Rcpts: res.Rcpts[i:j]}
}

// merge takes the attempt-wide facts of p, a part of res, into res.
func (res *Result) merge(p *Result) {
	if p.Host != "" || p.TLSOutcome != (tlspolicy.Outcome{}) {
		res.Host, res.TLS, res.TLSOutcome = p.Host, p.TLS, p.TLSOutcome
	}
	res.DestinationDown = res.DestinationDown || p.DestinationDown
	res.Ambiguous = res.Ambiguous || p.Ambiguous
}

// tried counts the leading recipients of res that have a status: those a
// transaction or attempt settled, before any it left out.
func tried(res *Result) int {
	n := 0
	for n < len(res.Rcpts) && res.Rcpts[n].Status != pending {
		n++
	}
	return n
}
