package submission

import (
	"strings"

	"github.com/emersion/go-smtp"

	"github.com/outbox-mta/outbox/store"
)

// tlsRequiredHeader is the header field by which a sender asks that TLS
// policies be set aside for its message (RFC 8689 §5).
const tlsRequiredHeader = "TLS-Required"

// replyRequireTLSPlain refuses MAIL ... REQUIRETLS on a session that is not
// encrypted: RFC 8689 §4.1 allows the parameter only over TLS (go-smtp
// advertises the extension only there, but would take the parameter
// anywhere).
var replyRequireTLSPlain = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 10},
	Message: "REQUIRETLS is only accepted over TLS (RFC 8689 §4.1): use STARTTLS first"}

// checkRequireTLS refuses REQUIRETLS outside TLS.
func (s *session) checkRequireTLS(opts *smtp.MailOptions) *smtp.SMTPError {
	if opts != nil && opts.RequireTLS && s.tls == "" {
		return s.reject("mail", replyRequireTLSPlain)
	}
	return nil
}

// tlsRequirement is the stored TLS requirement of a message: REQUIRETLS
// from MAIL, else "TLS-Required: No" from its header (RFC 8689 §5; with
// REQUIRETLS the header field is ignored, §4.1).
func tlsRequirement(requireTLS bool, h *header) store.TLSReq {
	switch {
	case requireTLS:
		return store.TLSReqRequire
	case strings.EqualFold(strings.TrimSpace(h.value(tlsRequiredHeader)), "no"):
		return store.TLSReqOptional
	}
	return store.TLSReqNone
}
