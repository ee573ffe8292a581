package delivery

import (
	"fmt"
	"io"
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
	// SMTPUTF8: the message needs the SMTPUTF8 extension (RFC 6531), e.g.
	// the submitter used it. Non-ASCII envelope addresses imply it anyway.
	SMTPUTF8 bool
	// EightBit: the body may hold 8-bit octets (RFC 6152). It is sent in
	// its 7-bit form to a server without 8BITMIME.
	EightBit bool
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
		return fmt.Sprintf("%d %s", r.Code, r.Text)
	}
	return fmt.Sprintf("%d %s %s", r.Code, r.Enhanced, r.Text)
}

// RcptResult is the outcome of an attempt for one recipient.
type RcptResult struct {
	Rcpt   string
	Status Status
	Reply  Reply
}

// Result is the outcome of one Deliver call. Rcpts has exactly one entry per
// Envelope.Rcpts, in the same order.
type Result struct {
	Host  string // "mx.example.com[127.0.0.2]:25" of the last host tried; "" when none
	TLS   string // "TLS1.3 TLS_AES_128_GCM_SHA256 verified", "none"
	Rcpts []RcptResult
	// DestinationDown is set when no host of the destination could be
	// reached (connect failure, 421 or 4xx greeting on every host): the
	// caller backs off the whole destination.
	DestinationDown bool
	// Ambiguous is set when the connection was lost after the final dot:
	// the message may or may not have been delivered; it is deferred.
	Ambiguous bool
}
