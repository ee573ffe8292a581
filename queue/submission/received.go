package submission

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// traceInfo is what the Received field records about one submission.
type traceInfo struct {
	helo     string     // the client's EHLO argument
	ip       netip.Addr // the client's address
	hostname string     // our name
	tls      string     // "TLS1.3 TLS_AES_128_GCM_SHA256", "" without TLS
	auth     bool
	id       string   // the queue ID
	rcpts    []string // envelope recipients
	date     time.Time
}

// protocol is the "with" keyword of RFC 3848: ESMTP, plus S for TLS and A
// for an authenticated client.
func (t *traceInfo) protocol() string {
	p := "ESMTP"
	if t.tls != "" {
		p += "S"
	}
	if t.auth {
		p += "A"
	}
	return p
}

// received builds the Received field of RFC 5321 §4.4:
//
//	Received: from client.example ([192.0.2.1])
//		by outbox.example (Outbox) with ESMTPSA (TLS1.3 ...) id ID
//		for <rcpt@example.org>; Mon, 02 Jan 2006 15:04:05 -0700
//
// "for" names the recipient only when there is exactly one, so recipients
// do not learn about each other (RFC 5321 §7.2).
func (t *traceInfo) received() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Received: from %s (%s)\r\n\tby %s (Outbox) with %s",
		sanitizeTrace(t.helo), addressLiteral(t.ip), sanitizeTrace(t.hostname), t.protocol())
	if t.tls != "" {
		fmt.Fprintf(&b, " (%s)", t.tls)
	}
	fmt.Fprintf(&b, " id %s", t.id)
	if len(t.rcpts) == 1 {
		fmt.Fprintf(&b, "\r\n\tfor <%s>", t.rcpts[0])
	}
	fmt.Fprintf(&b, ";\r\n\t%s\r\n", t.date.Format(time.RFC1123Z))
	return b.String()
}

// addressLiteral formats ip as in RFC 5321 §4.1.3: [192.0.2.1], [IPv6:::1].
func addressLiteral(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid():
		return "unknown"
	case ip.Is4():
		return "[" + ip.String() + "]"
	}
	return "[IPv6:" + ip.WithZone("").String() + "]"
}

// sanitizeTrace makes a client-chosen name safe inside a header: go-smtp
// accepts any non-space bytes as the EHLO argument, so control bytes,
// parentheses (comment delimiters) and non-ASCII become '?', and the name is
// cut to a domain's maximum length.
func sanitizeTrace(s string) string {
	if s == "" {
		return "unknown"
	}
	if len(s) > maxDomain {
		s = s[:maxDomain]
	}
	b := []byte(s)
	for i, c := range b {
		if c <= ' ' || c >= 0x7f || c == '(' || c == ')' || c == '\\' || c == ';' {
			b[i] = '?'
		}
	}
	return string(b)
}
