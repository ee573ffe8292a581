package tlsrpt

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"mime"
	"strings"
	"time"
)

// Mail is a report as an email (RFC 8460 §5.3): multipart/report with
// report-type "tlsrpt", a short text part and the gzipped JSON as
// application/tlsrpt+gzip, named as §5.3 asks. CRLF line ends, 7-bit.
func Mail(r *Report, gz []byte, from, to, submitter string, now time.Time) []byte {
	domain := ""
	if len(r.Policies) > 0 {
		domain = r.Policies[0].Policy.Domain
	}
	boundary := "tlsrpt-" + randomToken()
	// filename = sender "!" policy-domain "!" begin "!" end "!" unique-id "." extension
	filename := fmt.Sprintf("%s!%s!%d!%d!%s.json.gz", submitter, domain,
		r.DateRange.Start.Unix(), r.DateRange.End.Unix(), safeID(r.ReportID))
	var b bytes.Buffer
	h := func(name, value string) { fmt.Fprintf(&b, "%s: %s\r\n", name, value) }
	h("From", from)
	h("To", to)
	h("Date", now.Format(time.RFC1123Z))
	h("Subject", mime.QEncoding.Encode("utf-8", fmt.Sprintf("Report Domain: %s Submitter: %s Report-ID: <%s>", domain, submitter, r.ReportID)))
	h("Message-ID", "<"+randomToken()+"@"+submitter+">")
	h("TLS-Report-Domain", domain)
	h("TLS-Report-Submitter", submitter)
	h("MIME-Version", "1.0")
	h("Content-Type", `multipart/report; report-type="tlsrpt"; boundary="`+boundary+`"`)
	b.WriteString("\r\n")
	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n", boundary)
	fmt.Fprintf(&b, "This is an aggregate TLS report (RFC 8460) from %s for %s,\r\n%s to %s.\r\n\r\n",
		submitter, domain, r.DateRange.Start.Format(time.RFC3339), r.DateRange.End.Format(time.RFC3339))
	fmt.Fprintf(&b, "--%s\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n", boundary)
	fmt.Fprintf(&b, "Content-Disposition: attachment; filename=\"%s\"\r\n\r\n", filename)
	enc := base64.StdEncoding.EncodeToString(gz)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return b.Bytes()
}

// safeID keeps a report ID usable inside a file name.
func safeID(id string) string {
	return strings.Map(func(r rune) rune {
		if r == '!' || r == '/' || r == '"' || r == '\\' || r < ' ' || r > '~' {
			return '_'
		}
		return r
	}, id)
}

func randomToken() string {
	var b [12]byte
	rand.Read(b[:])
	return fmt.Sprintf("%x", b)
}
