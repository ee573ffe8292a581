package dsn

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// part is one body part of the notice before it is written: its media type
// and its content, already encoded for transfer.
type part struct {
	contentType string // with parameters
	description string
	cte         string // Content-Transfer-Encoding; "" for 7bit
	body        []byte
}

// Build returns the complete notice for n, header and body, with CRLF line
// ends and no line over 998 octets: a multipart/report (RFC 6522) of a
// text/plain explanation, a message/delivery-status report (RFC 3464) and,
// when n.Headers has any, the original header block (text/rfc822-headers).
// Non-ASCII content switches to the RFC 6533 types; see Notice.SMTPUTF8 for
// how it is then transferred. It fails only on an invalid Notice.
func Build(n *Notice) ([]byte, error) {
	if err := n.validate(); err != nil {
		return nil, err
	}
	now := n.Now
	if now.IsZero() {
		now = time.Now()
	}
	eightBit := n.SMTPUTF8()

	parts := make([]part, 0, 3)
	headers, truncated := CleanHeaders(n.Headers)
	full, whyNot := n.returnedMessage()
	ret := returned{headers: len(headers) > 0 && full == nil, truncated: truncated, full: full != nil, whyNot: whyNot}
	parts = append(parts, textPart("text/plain; charset=utf-8", "Notification",
		humanText(n, ret), eightBit))

	report := statusFields(n)
	reportType := "delivery-status"
	if !isASCII(string(report)) {
		// RFC 6533 §6.2: UTF-8 in the report (an address, a diagnostic)
		// needs the global type, and the report-type follows the part.
		reportType = "global-delivery-status"
	}
	parts = append(parts, textPart("message/"+reportType, "Delivery report", report, eightBit))

	switch {
	case full != nil:
		// RFC 6522 §3: the returned message, 7-bit (see returnedMessage).
		parts = append(parts, part{contentType: "message/rfc822", description: "Undelivered message", body: full})
	case len(headers) > 0:
		ct := "text/rfc822-headers" // RFC 6522 §4
		if !isASCII(string(headers)) {
			ct = "message/global-headers" // RFC 6533 §6.3
		}
		parts = append(parts, textPart(ct, "Undelivered message headers", headers, eightBit))
	}

	boundary, err := chooseBoundary(n.Boundary, parts)
	if err != nil {
		return nil, err
	}

	var b bytes.Buffer
	subject := n.subject()
	msgID := n.MessageID
	if msgID == "" {
		msgID = now.UTC().Format("20060102150405") + "." + strings.ToLower(rand.Text()) + "@" + n.ReportingMTA
	}
	writeField(&b, "From", "Mail Delivery System <MAILER-DAEMON@"+n.ReportingMTA+">")
	// The sender is an SMTP path, already a valid addr-spec; a non-ASCII
	// one is sent raw under SMTPUTF8 (RFC 6532 §3.2).
	writeField(&b, "To", "<"+n.Sender+">")
	writeField(&b, "Subject", subject)
	writeField(&b, "Date", formatDate(now))
	writeField(&b, "Message-ID", "<"+msgID+">")
	// RFC 3834 §5: marks the notice as automatic, so responders and
	// vacation programs do not answer it.
	writeField(&b, "Auto-Submitted", "auto-replied")
	writeField(&b, "MIME-Version", "1.0")
	writeField(&b, "Content-Type", mime.FormatMediaType("multipart/report",
		map[string]string{"report-type": reportType, "boundary": boundary}))
	if eightBit {
		writeField(&b, "Content-Transfer-Encoding", "8bit")
	}
	b.WriteString("\r\n")
	b.WriteString("This is a MIME-formatted delivery status notification.\r\n")

	mw := multipart.NewWriter(&b)
	if err := mw.SetBoundary(boundary); err != nil {
		return nil, fmt.Errorf("%w: boundary %q: %v", ErrInvalid, boundary, err)
	}
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", p.contentType)
		h.Set("Content-Description", p.description)
		if p.cte != "" {
			h.Set("Content-Transfer-Encoding", p.cte)
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			return nil, fmt.Errorf("dsn: writing part: %w", err)
		}
		if _, err := w.Write(p.body); err != nil {
			return nil, fmt.Errorf("dsn: writing part: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("dsn: closing multipart: %w", err)
	}
	return b.Bytes(), nil
}

// textPart prepares a part. ASCII content goes as it is (7bit). Non-ASCII
// content goes as 8bit when the notice travels with SMTPUTF8 anyway, and as
// quoted-printable otherwise, so the notice stays 7-bit and deliverable to
// any server (RFC 6533 §6 allows it for the global types).
func textPart(contentType, description string, body []byte, eightBit bool) part {
	p := part{contentType: contentType, description: description, body: body}
	switch {
	case isASCII(string(body)):
	case eightBit:
		p.cte = "8bit"
	default:
		p.cte = "quoted-printable"
		var qp bytes.Buffer
		w := quotedprintable.NewWriter(&qp)
		_, _ = w.Write(body) // writes to a bytes.Buffer cannot fail
		_ = w.Close()
		p.body = qp.Bytes()
	}
	return p
}

// chooseBoundary returns a boundary (RFC 2046 §5.1.1) that occurs in no
// part: seed, or a random one when seed is empty, suffixed with a counter
// until it is unique. The random default starts with "=_", which
// quoted-printable content cannot contain.
func chooseBoundary(seed string, parts []part) (string, error) {
	if seed == "" {
		seed = "=_outbox_" + rand.Text()
	}
	for i := 0; ; i++ {
		b := seed
		if i > 0 {
			suffix := "." + strconv.Itoa(i)
			b = seed[:min(len(seed), 70-len(suffix))] + suffix
		}
		clash := false
		for _, p := range parts {
			if bytes.Contains(p.body, []byte("--"+b)) {
				clash = true
				break
			}
		}
		if !clash {
			return b, nil
		}
		if i > 1000 {
			return "", fmt.Errorf("%w: no boundary free of the content for seed %q", ErrInvalid, seed)
		}
	}
}
