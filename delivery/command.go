package delivery

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// extensions answers whether the server offered an EHLO keyword; go-smtp's
// Client.Extension, which keeps what the session's EHLO reply listed.
type extensions interface {
	Extension(name string) (bool, string)
}

// Errors of a command that cannot be sent as asked; the transaction's
// recipients are deferred with them and nothing is sent.
var (
	errNoUTF8       = errors.New("smtp: server does not support SMTPUTF8")
	errNoRequireTLS = errors.New("smtp: server does not support REQUIRETLS")
	errBadLine      = errors.New("smtp: a line must not contain CR or LF")
	errBadRet       = errors.New("smtp: Unknown RET parameter value")
	errBadEnvID     = errors.New("smtp: Malformed ENVID parameter value")
	errBadNotify    = errors.New("smtp: Malformed NOTIFY parameter value")
	errBadORcpt     = errors.New("smtp: Illegal address")
	errBadAddrType  = errors.New("smtp: Unknown address type")
	errBadDeliverBy = errors.New("smtp: DELIVERBY mode must be greater than zero with return mode")
	errBadPriority  = errors.New("smtp: MT-PRIORITY must be between -9 and 9")
)

// mailCommand is the MAIL command for from with opts, carrying each
// parameter only to a server that offers its extension, exactly as
// go-smtp's Client.Mail writes it (TestCommandsMatchGoSMTP): the
// transaction's commands are written here so that they can be pipelined,
// and the parameters the package's options ask for keep their meaning.
// BODY=8BITMIME goes to every server that offers 8BITMIME (RFC 6152).
func mailCommand(ext extensions, from string, opts *smtp.MailOptions) (string, error) {
	if strings.ContainsAny(from, "\r\n") {
		return "", errBadLine
	}
	has := func(name string) bool { ok, _ := ext.Extension(name); return ok }
	var b strings.Builder
	b.Grow(64 + len(from))
	b.WriteString("MAIL FROM:<")
	b.WriteString(from)
	b.WriteString(">")
	if has("8BITMIME") {
		b.WriteString(" BODY=8BITMIME")
	}
	if opts == nil {
		return b.String(), nil
	}
	if has("SIZE") && opts.Size != 0 {
		b.WriteString(" SIZE=" + strconv.FormatInt(opts.Size, 10))
	}
	if opts.RequireTLS {
		if !has("REQUIRETLS") {
			return "", errNoRequireTLS
		}
		b.WriteString(" REQUIRETLS") // RFC 8689 §4.1
	}
	if opts.UTF8 {
		if !has("SMTPUTF8") {
			return "", errNoUTF8
		}
		b.WriteString(" SMTPUTF8") // RFC 6531 §3.4
	}
	if has("DSN") { // RFC 3461 §4.3, §4.4
		switch opts.Return {
		case smtp.DSNReturnFull, smtp.DSNReturnHeaders:
			b.WriteString(" RET=" + string(opts.Return))
		case "":
		default:
			return "", errBadRet
		}
		if opts.EnvelopeID != "" {
			if !printableASCII(opts.EnvelopeID) {
				return "", errBadEnvID
			}
			b.WriteString(" ENVID=" + xtext(opts.EnvelopeID))
		}
	}
	if opts.Auth != nil && has("AUTH") {
		b.WriteString(" AUTH=" + xtext(*opts.Auth)) // RFC 4954 §5
	}
	return b.String(), nil
}

// rcptCommand is the RCPT command for to with opts, as go-smtp's
// Client.Rcpt writes it (see mailCommand).
func rcptCommand(ext extensions, to string, opts *smtp.RcptOptions) (string, error) {
	if strings.ContainsAny(to, "\r\n") {
		return "", errBadLine
	}
	has := func(name string) bool { ok, _ := ext.Extension(name); return ok }
	var b strings.Builder
	b.Grow(64 + len(to))
	b.WriteString("RCPT TO:<")
	b.WriteString(to)
	b.WriteString(">")
	if opts == nil {
		return b.String(), nil
	}
	if has("DSN") {
		if err := rcptDSN(&b, opts, has("SMTPUTF8")); err != nil {
			return "", err
		}
	}
	if has("RRVS") && !opts.RequireRecipientValidSince.IsZero() {
		b.WriteString(" RRVS=" + opts.RequireRecipientValidSince.Format(time.RFC3339)) // RFC 7293
	}
	if by := opts.DeliverBy; by != nil && has("DELIVERBY") { // RFC 2852
		if by.Mode == smtp.DeliverByReturn && by.Time < 1 {
			return "", errBadDeliverBy
		}
		b.WriteString(" BY=" + strconv.Itoa(int(by.Time.Seconds())) + ";" + string(by.Mode))
		if by.Trace {
			b.WriteString("T")
		}
	}
	if p := opts.MTPriority; p != nil && has("MT-PRIORITY") { // RFC 6710
		if *p < -9 || *p > 9 {
			return "", errBadPriority
		}
		b.WriteString(" MT-PRIORITY=" + strconv.Itoa(*p))
	}
	return b.String(), nil
}

// rcptDSN writes the NOTIFY and ORCPT parameters (RFC 3461 §4.1, §4.2;
// RFC 6533 §3 for utf-8 addresses).
func rcptDSN(b *strings.Builder, opts *smtp.RcptOptions, utf8 bool) error {
	if len(opts.Notify) != 0 {
		if !validNotify(opts.Notify) {
			return errBadNotify
		}
		b.WriteString(" NOTIFY=")
		for i, v := range opts.Notify {
			if i != 0 {
				b.WriteByte(',')
			}
			b.WriteString(string(v))
		}
	}
	if opts.OriginalRecipient == "" {
		return nil
	}
	var enc string
	switch opts.OriginalRecipientType {
	case smtp.DSNAddressTypeRFC822:
		if !printableASCII(opts.OriginalRecipient) {
			return errBadORcpt
		}
		enc = xtext(opts.OriginalRecipient)
	case smtp.DSNAddressTypeUTF8:
		enc = utf8AddrText(opts.OriginalRecipient, utf8)
	default:
		return errBadAddrType
	}
	b.WriteString(" ORCPT=" + string(opts.OriginalRecipientType) + ";" + enc)
	return nil
}

// validNotify reports whether v is a NOTIFY list RFC 3461 §4.1 allows:
// NEVER alone, or SUCCESS, FAILURE and DELAY each at most once.
func validNotify(v []smtp.DSNNotify) bool {
	seen := map[smtp.DSNNotify]bool{}
	for _, n := range v {
		switch n {
		case smtp.DSNNotifyNever, smtp.DSNNotifyDelayed, smtp.DSNNotifyFailure, smtp.DSNNotifySuccess:
		default:
			return false
		}
		if seen[n] {
			return false
		}
		seen[n] = true
	}
	return !seen[smtp.DSNNotifyNever] || len(seen) == 1
}

// xtext encodes s as RFC 3461 §4 xtext: "+" and "=", and anything that
// is not printable ASCII, as "+XX".
func xtext(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r >= '!' && r <= '~' && r != '+' && r != '=' {
			b.WriteRune(r)
			continue
		}
		b.WriteString("+" + strings.ToUpper(strconv.FormatInt(int64(r), 16)))
	}
	return b.String()
}

// utf8AddrText encodes a utf-8 address for ORCPT (RFC 6533 §3):
// utf-8-addr-unitext to a server that offers SMTPUTF8 (non-ASCII left as
// is), utf-8-addr-xtext to others; the characters xtext does not allow
// become "\x{XX}".
func utf8AddrText(s string, unitext bool) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r >= '!' && r <= '~' && r != '+' && r != '=':
			b.WriteRune(r)
		case unitext && r > 0x7f:
			b.WriteRune(r)
		default:
			b.WriteString(`\x{` + strings.ToUpper(strconv.FormatInt(int64(r), 16)) + "}")
		}
	}
	return b.String()
}
