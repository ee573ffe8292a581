package dsn

import (
	"bytes"
	"strconv"
	"strings"
	"time"
)

// dateLayout is the RFC 5322 §3.3 date-time used by every date field.
const dateLayout = "Mon, 02 Jan 2006 15:04:05 -0700"

// statusFields renders the body of the message/delivery-status part (RFC
// 3464 §2.1): the per-message fields, then one block per recipient, each
// block ended by an empty line. Fields appear in the RFC's order.
func statusFields(n *Notice) []byte {
	var b bytes.Buffer
	// Per-message fields, RFC 3464 §2.2.
	if n.EnvelopeID != "" {
		writeField(&b, "Original-Envelope-Id", n.EnvelopeID)
	}
	writeField(&b, "Reporting-MTA", "dns; "+n.ReportingMTA)
	if n.QueueID != "" {
		// Extension fields start with "X-" (RFC 3464 §2.4).
		writeField(&b, "X-Outbox-Queue-ID", n.QueueID)
	}
	writeField(&b, "X-Outbox-Sender", addrType(n.Sender))
	if !n.Arrival.IsZero() {
		writeField(&b, "Arrival-Date", formatDate(n.Arrival))
	}
	// Per-recipient fields, RFC 3464 §2.3.
	for i := range n.Recipients {
		r := &n.Recipients[i]
		b.WriteString("\r\n")
		if r.Original != "" {
			typ, addr, _ := strings.Cut(r.Original, ";")
			writeField(&b, "Original-Recipient", strings.ToLower(typ)+";"+strings.TrimSpace(addr))
		}
		writeField(&b, "Final-Recipient", addrType(r.Addr))
		writeField(&b, "Action", string(r.Action))
		writeField(&b, "Status", status(r))
		if r.RemoteMTA != "" {
			writeField(&b, "Remote-MTA", "dns; "+r.RemoteMTA)
		}
		if d := diagnosticCode(r); d != "" {
			writeField(&b, "Diagnostic-Code", d)
		}
		if !r.LastAttempt.IsZero() {
			writeField(&b, "Last-Attempt-Date", formatDate(r.LastAttempt))
		}
		if r.Action == Delayed && !r.WillRetryUntil.IsZero() {
			writeField(&b, "Will-Retry-Until", formatDate(r.WillRetryUntil))
		}
	}
	return b.Bytes()
}

// addrType renders an address with its address type (RFC 3464 §2.1.2): an
// ASCII address is "rfc822"; a non-ASCII one is "utf-8" (RFC 6533 §3) in its
// plain utf-8-address form, which the message/global-delivery-status part
// it forces may carry. The xtext and unitext forms exist for the SMTP ORCPT
// parameter; a notice has no need of them.
func addrType(addr string) string {
	if isASCII(addr) {
		return "rfc822; " + addr
	}
	return "utf-8; " + addr
}

// diagnosticCode renders the Diagnostic-Code value (RFC 3464 §2.3.6): the
// remote reply with diagnostic type "smtp", or a local error with the
// extension type "X-Outbox" (there was no SMTP reply to quote). Empty when
// there is nothing to say.
func diagnosticCode(r *Recipient) string {
	d := clean(r.Diagnostic, MaxDiagnosticBytes)
	switch {
	case r.Code != 0 && d == "":
		return "smtp; " + strconv.Itoa(r.Code)
	case r.Code != 0:
		return "smtp; " + d
	case d != "":
		return "X-Outbox; " + d
	}
	return ""
}

// status returns the RFC 3463 status code reported for r: r.Status when it
// is well formed and fits the action, else one derived from the reply code's
// class or the action. A delayed recipient is never reported with a 5.x.x
// code; a failed one may keep 4.x.x (it expired after temporary errors, as
// Postfix reports it); a relayed one is a success, 2.x.x.
func status(r *Recipient) string {
	if r.Action == Relayed {
		if validStatus(r.Status) && r.Status[0] == '2' {
			return r.Status
		}
		return "2.0.0"
	}
	if validStatus(r.Status) && r.Status[0] != '2' && (r.Action == Failed || r.Status[0] == '4') {
		return r.Status
	}
	switch {
	case r.Action == Delayed:
		return "4.0.0"
	case r.Code >= 400 && r.Code < 500:
		return "4.0.0"
	}
	return "5.0.0"
}

// validStatus reports whether s is class "." subject "." detail with class
// 2, 4 or 5 and one to three digits each for subject and detail (RFC 3463
// §2; status picks the classes that fit the action).
func validStatus(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || (parts[0] != "2" && parts[0] != "4" && parts[0] != "5") {
		return false
	}
	for _, p := range parts[1:] {
		if len(p) < 1 || len(p) > 3 {
			return false
		}
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return false
			}
		}
	}
	return true
}

// HostName extracts the host name from the form a delivery attempt records,
// "mx.example.com[192.0.2.1]:25", for Recipient.RemoteMTA. Without a name
// it returns the address literal, "[192.0.2.1]"; it returns "" for "".
func HostName(host string) string {
	if i := strings.IndexByte(host, '['); i > 0 {
		return host[:i]
	} else if i == 0 {
		if j := strings.IndexByte(host, ']'); j > 0 {
			return host[:j+1]
		}
	}
	if i := strings.LastIndexByte(host, ':'); i > 0 && !strings.Contains(host[:i], ":") {
		return host[:i] // "host:25"
	}
	return host
}

// formatDate renders t for a date field.
func formatDate(t time.Time) string { return t.Format(dateLayout) }
