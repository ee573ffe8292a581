package submission

import (
	"errors"
	"fmt"

	"github.com/emersion/go-smtp"

	"github.com/outbox-mta/outbox/store"
)

// The replies the listener gives. go-smtp sends an *smtp.SMTPError as is, but
// turns any other error into 451/554 with the error's text, which would leak
// internals and make a storage failure permanent; so every error handed to
// go-smtp is one of these (or built by a helper below), never wrapped.
var (
	replyAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0},
		Message: "Authentication required"}
	replyAuthFailed = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8},
		Message: "Authentication credentials invalid"}
	replyAuthThrottled = &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0},
		Message: "Too many authentication failures, try again later"}
	replyAuthNeedsTLS = &smtp.SMTPError{Code: 538, EnhancedCode: smtp.EnhancedCode{5, 7, 11},
		Message: "Encryption required for requested authentication mechanism"}
	replyAuthMalformed = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 5, 2},
		Message: "Malformed authentication response"}
	replyShuttingDown = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2},
		Message: "Service shutting down, try again later"}
	replyTooManyRcpts = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3},
		Message: "Too many recipients"}
	replyNoRecipients = &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1},
		Message: "No valid recipients"}
	replyNeedsUTF8 = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 6, 7},
		Message: "Non-ASCII address requires the SMTPUTF8 parameter on MAIL"}
	replyTooBig = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
		Message: "Message exceeds the maximum size"}
	replyHeaderTooBig = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
		Message: "Message header block exceeds the maximum size"}
	replyBareLine = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
		Message: "Bare CR or LF not allowed: end every line with CRLF"}
	replyNUL = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
		Message: "NUL character not allowed in message"}
	replyDataTimeout = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2},
		Message: "Message transfer took too long, closing connection"}
	replyPipelinedGreeting = &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1},
		Message: "Commands sent before the reply to EHLO (RFC 2920 section 3.1)"}
	replySenderNotOwned = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
		Message: "Sender address not owned by authenticated user"}
	replyFromNotOwned = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
		Message: "From header address not owned by authenticated user"}
	replyLineTooLong = &smtp.SMTPError{Code: 500, EnhancedCode: smtp.EnhancedCode{5, 5, 2},
		Message: "Line too long"}
	replyStorage = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0},
		Message: "Local error in processing, message not queued; try again later"}
	replyNoSpace = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1},
		Message: "Insufficient system storage, try again later"}
	replyReadFailed = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 2},
		Message: "Message transfer interrupted, not queued"}
)

// replyBadAddress is 501 5.1.7 for the sender, 501 5.1.3 for a recipient.
func replyBadAddress(sender bool, why string) *smtp.SMTPError {
	if sender {
		return &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 7},
			Message: "Bad sender address syntax: " + why}
	}
	return &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3},
		Message: "Bad recipient address syntax: " + why}
}

// replyBadHeader rejects content whose header block we cannot accept.
func replyBadHeader(why string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
		Message: "Bad message header: " + why}
}

// replyIdempotencyConflict refuses a key already used with another
// envelope: a client error, not a retry (the HTTP API's 409).
var replyIdempotencyConflict = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
	Message: "Outbox-Idempotency-Key was used with another envelope"}

// replyQueued is the success reply after a durable commit. go-smtp sends any
// *SMTPError's code and text, which is how the queue ID reaches the client
// (a nil error would give a fixed "OK: queued").
func replyQueued(id string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0},
		Message: fmt.Sprintf("Ok: queued as %s", id)}
}

// storageReply maps a spool error to what the client may see: disk full is
// 452 4.3.1, a body over the store's limit 552, anything else 451 4.3.0 —
// always temporary, never go-smtp's default permanent 554.
func storageReply(err error) *smtp.SMTPError {
	switch {
	case errors.Is(err, store.ErrNoSpace):
		return replyNoSpace
	case errors.Is(err, store.ErrTooBig):
		return replyTooBig
	}
	return replyStorage
}
