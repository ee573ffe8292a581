package httpapi

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"

	"github.com/outbox-mta/outbox/delivery/sevenbit"
)

// sendRequest is the JSON body of POST /v1/messages: either the parts of a
// message Outbox builds, or Raw, a complete RFC 5322 message, with an
// explicit Envelope.
type sendRequest struct {
	From        string            `json:"from"`
	To          []string          `json:"to"`
	Cc          []string          `json:"cc"`
	Bcc         []string          `json:"bcc"`
	ReplyTo     string            `json:"reply_to"`
	Subject     string            `json:"subject"`
	Text        string            `json:"text"`
	HTML        string            `json:"html"`
	Headers     map[string]string `json:"headers"`
	Attachments []attachment      `json:"attachments"`
	Raw         string            `json:"raw"`
	Envelope    *envelope         `json:"envelope"`
	// AtLeastOne overrides delivery.at_least_one for this message, as the
	// SMTP header field X-Outbox-At-Least-One does; nil: the default.
	AtLeastOne *bool `json:"at_least_one"`
	// DeliverAfter is the scheduled send time, RFC 3339; "": at once.
	DeliverAfter string `json:"deliver_after"`
	// ExpireAt is when delivery is given up, RFC 3339; "": the
	// configured lifetime only.
	ExpireAt string `json:"expire_at"`
	// Tags and Metadata are kept with the message for the client's own use.
	Tags     []string          `json:"tags"`
	Metadata map[string]string `json:"metadata"`
	// Priority is the delivery lane: "high", "normal" (""), or "bulk".
	Priority string `json:"priority"`
	// IgnoreSuppressions sends to recipients on the suppression list too.
	IgnoreSuppressions bool `json:"ignore_suppressions"`
	// RequireTLS asks for REQUIRETLS delivery (RFC 8689): only over TLS
	// verified by MTA-STS or DANE to servers offering REQUIRETLS, else a
	// 5.7.10 bounce.
	RequireTLS bool `json:"require_tls"`
}

// attachment is one file; with ContentID it is inline (multipart/related,
// RFC 2387), referred to from the HTML as "cid:ID".
type attachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Content     string `json:"content"` // base64 (RFC 4648 §4)
	ContentID   string `json:"content_id"`

	data []byte // Content decoded
}

// envelope is the SMTP envelope of a raw message.
type envelope struct {
	From string   `json:"from"`
	To   []string `json:"to"`
}

// fieldError is a refusal naming the request field at fault.
type fieldError struct {
	field, msg string
}

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

func fieldErr(field, format string, args ...any) *fieldError {
	return &fieldError{field: field, msg: fmt.Sprintf(format, args...)}
}

// parsed is a checked request: the envelope and what to build.
type parsed struct {
	mailFrom string   // envelope sender
	rcpts    []string // envelope recipients, deduplicated, in order
	from     *mail.Address
	to, cc   []*mail.Address
	replyTo  *mail.Address
	raw      []byte // a raw message, else nil
	opts     *msgOptions
}

// check validates req and returns the envelope and the header addresses.
func (req *sendRequest) check(maxRcpts int) (*parsed, error) {
	if req.Raw != "" {
		return req.checkRaw(maxRcpts)
	}
	if req.Envelope != nil {
		return nil, fieldErr("envelope", "is only for a raw message")
	}
	p := new(parsed)
	var err error
	if req.From == "" {
		return nil, fieldErr("from", "is required")
	}
	if p.from, err = parseAddr("from", req.From); err != nil {
		return nil, err
	}
	p.mailFrom = p.from.Address
	if req.ReplyTo != "" {
		if p.replyTo, err = parseAddr("reply_to", req.ReplyTo); err != nil {
			return nil, err
		}
	}
	if p.to, err = parseList("to", req.To); err != nil {
		return nil, err
	}
	if p.cc, err = parseList("cc", req.Cc); err != nil {
		return nil, err
	}
	bcc, err := parseList("bcc", req.Bcc)
	if err != nil {
		return nil, err
	}
	for _, l := range [][]*mail.Address{p.to, p.cc, bcc} {
		for _, a := range l {
			p.rcpts = appendRcpt(p.rcpts, a.Address)
		}
	}
	if err := checkRcptCount("to", len(p.rcpts), maxRcpts); err != nil {
		return nil, err
	}
	if req.Text == "" && req.HTML == "" && len(req.Attachments) == 0 {
		return nil, fieldErr("text", "a message needs text, html or an attachment")
	}
	if err := checkHeaders(req.Headers); err != nil {
		return nil, err
	}
	for i := range req.Attachments {
		if err := req.Attachments[i].check(fmt.Sprintf("attachments[%d]", i)); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (req *sendRequest) checkRaw(maxRcpts int) (*parsed, error) {
	if req.From != "" || len(req.To)+len(req.Cc)+len(req.Bcc) > 0 || req.Subject != "" ||
		req.Text != "" || req.HTML != "" || len(req.Headers)+len(req.Attachments) > 0 || req.ReplyTo != "" {
		return nil, fieldErr("raw", "a raw message takes only envelope and the delivery options beside it")
	}
	if req.Envelope == nil {
		return nil, fieldErr("envelope", "is required with raw")
	}
	p := new(parsed)
	if req.Envelope.From != "" {
		a, err := parseBare("envelope.from", req.Envelope.From)
		if err != nil {
			return nil, err
		}
		p.mailFrom = a
	}
	for i, s := range req.Envelope.To {
		a, err := parseBare(fmt.Sprintf("envelope.to[%d]", i), s)
		if err != nil {
			return nil, err
		}
		p.rcpts = appendRcpt(p.rcpts, a)
	}
	if err := checkRcptCount("envelope.to", len(p.rcpts), maxRcpts); err != nil {
		return nil, err
	}
	raw, err := base64.StdEncoding.DecodeString(req.Raw)
	if err != nil {
		return nil, fieldErr("raw", "invalid base64: %v", err)
	}
	if err := checkRaw(raw); err != nil {
		return nil, err
	}
	if p.raw, err = sevenBit(raw); err != nil {
		return nil, err
	}
	return p, nil
}

func checkRcptCount(field string, n, max int) error {
	switch {
	case n == 0:
		return fieldErr(field, "no recipient: to, cc or bcc needs at least one address")
	case n > max:
		return fieldErr(field, "too many recipients: %d, at most %d", n, max)
	}
	return nil
}

// appendRcpt adds addr unless the same mailbox is there already: the
// domain compares without case (RFC 5321 §2.4), the local part exactly.
func appendRcpt(rcpts []string, addr string) []string {
	for _, r := range rcpts {
		if sameMailbox(r, addr) {
			return rcpts
		}
	}
	return append(rcpts, addr)
}

func sameMailbox(a, b string) bool {
	la, da, _ := strings.Cut(a, "@")
	lb, db, _ := strings.Cut(b, "@")
	return la == lb && strings.EqualFold(da, db)
}

func parseList(field string, l []string) ([]*mail.Address, error) {
	out := make([]*mail.Address, 0, len(l))
	for i, s := range l {
		a, err := parseAddr(fmt.Sprintf("%s[%d]", field, i), s)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// parseAddr parses one address with an optional display name
// ("Ann <ann@example.com>"). Only ASCII mailboxes are taken: a UTF-8 one
// would need SMTPUTF8 (RFC 6531) at every hop.
func parseAddr(field, s string) (*mail.Address, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fieldErr(field, "bad address %q: %v", s, err)
	}
	if err := checkMailbox(a.Address); err != "" {
		return nil, fieldErr(field, "bad address %q: %s", s, err)
	}
	return a, nil
}

// parseBare parses an envelope address, without a display name.
func parseBare(field, s string) (string, error) {
	a, err := parseAddr(field, s)
	if err != nil {
		return "", err
	}
	if a.Name != "" || strings.ContainsAny(s, "<>") {
		return "", fieldErr(field, "bad address %q: an envelope address has no display name or brackets", s)
	}
	return a.Address, nil
}

func checkMailbox(addr string) string {
	local, domain, ok := strings.Cut(addr, "@")
	switch {
	case !ok || local == "" || domain == "":
		return "not local@domain"
	case len(addr) > 254:
		return "longer than 254 octets" // RFC 5321 §4.5.3.1.3, less the brackets
	}
	for i := 0; i < len(addr); i++ {
		if addr[i] >= 0x80 {
			return "non-ASCII mailboxes are not supported"
		}
	}
	return ""
}

func (a *attachment) check(field string) error {
	if a.Filename == "" && a.ContentID == "" {
		return fieldErr(field+".filename", "is required (or content_id for an inline part)")
	}
	if strings.ContainsAny(a.Filename, "\r\n") {
		return fieldErr(field+".filename", "contains a line break")
	}
	if strings.ContainsAny(a.ContentID, "\r\n<> ") {
		return fieldErr(field+".content_id", "must be a bare ID without <>, spaces or line breaks")
	}
	if a.ContentType == "" {
		a.ContentType = "application/octet-stream"
	} else if strings.ContainsAny(a.ContentType, "\r\n") || !strings.Contains(a.ContentType, "/") {
		return fieldErr(field+".content_type", "%q is not a media type", a.ContentType)
	}
	data, err := base64.StdEncoding.DecodeString(a.Content)
	if err != nil {
		return fieldErr(field+".content", "invalid base64: %v", err)
	}
	a.data = data
	return nil
}

// reservedHeaders are set by Outbox from the request's own fields.
var reservedHeaders = []string{"From", "To", "Cc", "Bcc", "Reply-To", "Subject", "Date",
	"Message-Id", "Mime-Version", "Content-Type", "Content-Transfer-Encoding", "Received",
	"Dkim-Signature", "Return-Path"}

func checkHeaders(h map[string]string) error {
	for name, value := range h {
		field := "headers." + name
		if name == "" || strings.IndexFunc(name, func(r rune) bool { return r <= ' ' || r >= 0x7f || r == ':' }) >= 0 {
			return fieldErr(field, "not a header field name (RFC 5322 §3.6.8)")
		}
		for _, r := range reservedHeaders {
			if strings.EqualFold(name, r) {
				return fieldErr(field, "is set from the request's own fields")
			}
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			return fieldErr(field, "contains a line break or NUL")
		}
		if len(name)+2+len(value) > 998 {
			return fieldErr(field, "longer than 998 octets (RFC 5322 §2.1.1)")
		}
	}
	return nil
}

// checkRaw holds a raw message to the rules the SMTP listener applies to
// DATA: CRLF line ends only (bare CR or LF smuggle commands past some
// parsers), no NUL, and a header block ended by an empty line.
func checkRaw(raw []byte) error {
	for i, c := range raw {
		switch {
		case c == 0:
			return fieldErr("raw", "contains a NUL octet")
		case c == '\r' && (i+1 >= len(raw) || raw[i+1] != '\n'):
			return fieldErr("raw", "contains a bare CR: lines must end with CRLF")
		case c == '\n' && (i == 0 || raw[i-1] != '\r'):
			return fieldErr("raw", "contains a bare LF: lines must end with CRLF")
		}
	}
	if !bytes.Contains(raw, []byte("\r\n\r\n")) && !bytes.HasPrefix(raw, []byte("\r\n")) {
		return fieldErr("raw", "has no empty line ending its header")
	}
	return nil
}

// sevenBit returns raw with every part that has 8-bit octets or lines
// over 998 octets re-encoded (delivery/sevenbit), as the SMTP listener
// stores such messages: a signature then verifies on every copy, also
// those sent to servers without 8BITMIME. A header line over 998 octets
// cannot be re-encoded (RFC 5322 §2.1.1) and is refused.
func sevenBit(raw []byte) ([]byte, error) {
	var out bytes.Buffer
	changed, err := sevenbit.Convert(&out, func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(raw)), nil
	})
	switch {
	case errors.Is(err, sevenbit.ErrLongHeaderLine):
		return nil, fieldErr("raw", "has a header line over 998 octets (RFC 5322 §2.1.1)")
	case errors.Is(err, sevenbit.ErrMalformed):
		return nil, fieldErr("raw", "its MIME structure does not parse: %v", err)
	case err != nil:
		return nil, fieldErr("raw", "%v", err)
	case !changed:
		return raw, nil
	}
	return out.Bytes(), nil
}
