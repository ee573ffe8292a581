package httpapi

import (
	"fmt"
	"io"
	"mime"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-message"
	gomail "github.com/emersion/go-message/mail"
)

// part is one node of the MIME tree: a leaf with a body, or a multipart
// with children.
type part struct {
	header   message.Header
	body     []byte
	children []*part
}

// leaf is a 7-bit single part: quoted-printable text (RFC 2045 §6.7), or
// base64 for anything else, so lines stay short and bytes survive every
// hop unchanged.
func leaf(contentType string, params map[string]string, body []byte) *part {
	var h message.Header
	h.SetContentType(contentType, params)
	if strings.HasPrefix(contentType, "text/") {
		h.Set("Content-Transfer-Encoding", "quoted-printable")
	} else {
		h.Set("Content-Transfer-Encoding", "base64")
	}
	return &part{header: h, body: body}
}

func multi(subtype string, children ...*part) *part {
	if len(children) == 1 {
		return children[0]
	}
	var h message.Header
	h.SetContentType("multipart/"+subtype, nil)
	return &part{header: h, children: children}
}

// tree builds the body: mixed(related(alternative(text, html), inline
// files), attached files), each level present only when it has more than
// one child (RFC 2046 §5.1, RFC 2387).
func (req *sendRequest) tree() *part {
	var alt []*part
	if req.Text != "" {
		alt = append(alt, leaf("text/plain", map[string]string{"charset": "utf-8"}, []byte(crlf(req.Text))))
	}
	if req.HTML != "" {
		alt = append(alt, leaf("text/html", map[string]string{"charset": "utf-8"}, []byte(crlf(req.HTML))))
	}
	var related, mixed []*part
	if len(alt) > 0 {
		related = append(related, multi("alternative", alt...))
	}
	for i := range req.Attachments {
		a := &req.Attachments[i]
		p := leaf(a.ContentType, nil, a.data)
		disp := "attachment"
		if a.ContentID != "" {
			disp = "inline"
			p.header.Set("Content-Id", "<"+a.ContentID+">")
		}
		var params map[string]string
		if a.Filename != "" {
			params = map[string]string{"filename": a.Filename}
		}
		p.header.SetContentDisposition(disp, params)
		if a.ContentID != "" {
			related = append(related, p)
		} else {
			mixed = append(mixed, p)
		}
	}
	if len(related) > 0 {
		mixed = append([]*part{multi("related", related...)}, mixed...)
	}
	return multi("mixed", mixed...)
}

// crlf turns every line end into CRLF, the only one a message may carry
// (RFC 5322 §2.3).
func crlf(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}

// compose writes the message for req, whose queue ID is id, to w. Bcc
// is never written: those recipients are in the envelope only (RFC 5322
// §3.6.3 allows either; a header field would reveal them to everyone).
func (req *sendRequest) compose(w io.Writer, p *parsed, id, hostname string, now time.Time) error {
	var h gomail.Header
	h.SetDate(now)
	h.SetMessageID(id + "@" + hostname)
	h.SetAddressList("From", []*gomail.Address{addr(p.from)})
	if len(p.to) > 0 {
		h.SetAddressList("To", addrs(p.to))
	}
	if len(p.cc) > 0 {
		h.SetAddressList("Cc", addrs(p.cc))
	}
	if p.replyTo != nil {
		h.SetAddressList("Reply-To", []*gomail.Address{addr(p.replyTo)})
	}
	if req.Subject != "" {
		h.SetSubject(req.Subject)
	}
	names := make([]string, 0, len(req.Headers))
	for name := range req.Headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		h.Set(name, mime.QEncoding.Encode("utf-8", req.Headers[name]))
	}
	h.Set("MIME-Version", "1.0")
	root := req.tree()
	// The root part's own fields (Content-Type, -Transfer-Encoding) are
	// the message's.
	fields := root.header.Fields()
	for fields.Next() {
		h.Add(fields.Key(), fields.Value())
	}
	return writePart(w, h.Header, root)
}

// writePart writes p under header h (the message header for the root).
func writePart(w io.Writer, h message.Header, p *part) error {
	mw, err := message.CreateWriter(w, h)
	if err != nil {
		return fmt.Errorf("httpapi: compose: %w", err)
	}
	return writeChildren(mw, p)
}

// writeChildren fills a part created by CreatePart.
func writeChildren(w *message.Writer, p *part) error {
	if p.children == nil {
		if _, err := w.Write(p.body); err != nil {
			return err
		}
		return w.Close()
	}
	for _, c := range p.children {
		cw, err := w.CreatePart(c.header)
		if err != nil {
			return fmt.Errorf("httpapi: compose: %w", err)
		}
		if err := writeChildren(cw, c); err != nil {
			return err
		}
	}
	return w.Close()
}

func addr(a *mail.Address) *gomail.Address { return &gomail.Address{Name: a.Name, Address: a.Address} }

func addrs(l []*mail.Address) []*gomail.Address {
	out := make([]*gomail.Address, len(l))
	for i, a := range l {
		out[i] = addr(a)
	}
	return out
}
