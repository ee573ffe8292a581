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

// part is one node of the MIME tree: a leaf with a body (text, or bytes),
// or a multipart with children.
type part struct {
	header   message.Header
	text     string // a text/* leaf's content from the request
	sevenBit bool   // text is 7bit data, written as it is
	body     []byte // any other leaf's content
	children []*part
}

// leaf is a 7-bit single part: quoted-printable text (RFC 2045 §6.7), or
// base64 for anything else, so lines stay short and bytes survive every
// hop unchanged; text (the function) relabels text that is 7bit already.
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
		alt = append(alt, text("text/plain", req.Text))
	}
	if req.HTML != "" {
		alt = append(alt, text("text/html", req.HTML))
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

// text is a UTF-8 text leaf with content s, written by writeText: as it
// is when it is already 7bit data (sevenBitText), else quoted-printable.
func text(contentType, s string) *part {
	p := leaf(contentType, map[string]string{"charset": "utf-8"}, nil)
	if p.sevenBit = sevenBitText(s); p.sevenBit {
		p.header.Set("Content-Transfer-Encoding", textEncoding(true))
	}
	p.text = s
	return p
}

// textEncoding is the Content-Transfer-Encoding of text that is 7bit
// data (sevenBitText) or not.
func textEncoding(sevenBit bool) string {
	if sevenBit {
		return "7bit"
	}
	return "quoted-printable"
}

// maxLine is the longest line 7bit data may have, in octets without its
// CRLF (RFC 2045 §2.7, RFC 5322 §2.1.1).
const maxLine = 998

// sevenBitText reports whether s, once writeText has made every line end
// CRLF, is 7bit data (RFC 2045 §2.7): octets 1 to 127 only, lines of at
// most maxLine octets. Such text needs no quoted-printable encoding (RFC
// 2045 §6.1), which would only cost the encoder's time. A line that ends
// in a space or tab is kept quoted-printable too: a hop that strips
// trailing white space would change the text (RFC 2045 §6.7 rule 3). So
// is text with a bare CR, which is rare: lines are found by their LF,
// which the library finds fast, and the one loop over every octet has a
// single comparison.
func sevenBitText(s string) bool {
	for len(s) > 0 {
		line := s
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			line, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		line = strings.TrimSuffix(line, "\r")
		if len(line) > maxLine || strings.IndexByte(line, '\r') >= 0 {
			return false
		}
		if n := len(line); n > 0 && (line[n-1] == ' ' || line[n-1] == '\t') {
			return false
		}
		for i := 0; i < len(line); i++ {
			// 0 wraps to 255: one comparison refuses NUL and 8-bit octets.
			if line[i]-1 >= 0x7f {
				return false
			}
		}
	}
	return true
}

// writeText writes s to w with every line end turned into CRLF, the only
// one a message may carry (RFC 5322 §2.3): CRLF stays, a bare LF or CR
// becomes CRLF. It copies s through chunk (not empty), as w takes
// bytes and converting s whole would allocate a copy as large. The
// quoted-printable encoder cannot be left to end the lines: it takes a
// bare CR for a line end, but then drops an LF that follows an encoded
// octet after it ("\r\xee\n").
func writeText(w io.Writer, s string, chunk []byte) error {
	n := 0
	put := func(b string) error {
		for len(b) > 0 {
			if n == len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return err
				}
				n = 0
			}
			c := copy(chunk[n:], b)
			n += c
			b = b[c:]
		}
		return nil
	}
	for len(s) > 0 {
		// Lines are found by their LF, then a CR looked for in the line:
		// two searches the library makes fast, where one for either
		// octet goes an octet at a time.
		line, rest, end := strings.Cut(s, "\n")
		if cr := strings.IndexByte(line, '\r'); cr >= 0 && (cr < len(line)-1 || !end) {
			line, rest, end = line[:cr], s[cr+1:], true // a bare CR
		} else if cr >= 0 {
			line = line[:cr] // CRLF
		}
		if err := put(line); err != nil {
			return err
		}
		if end {
			if err := put("\r\n"); err != nil {
				return err
			}
		}
		s = rest
	}
	if n > 0 {
		_, err := w.Write(chunk[:n])
		return err
	}
	return nil
}

// compose writes the message for req, whose queue ID is id, to w, with
// chunk as scratch space, and returns the facts of the header it wrote.
// Bcc is never written: those recipients are in the envelope only (RFC
// 5322 §3.6.3 allows either; a header field would reveal them to
// everyone).
func (req *sendRequest) compose(w io.Writer, p *parsed, id, hostname string, now time.Time, chunk []byte) (headerFacts, error) {
	var h gomail.Header
	h.SetDate(now)
	h.SetMessageID(id + "@" + hostname)
	f := headerFacts{messageID: "<" + id + "@" + hostname + ">"}
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
		v := mime.QEncoding.Encode("utf-8", req.Headers[name])
		// Set replaces a field of the same name in another case: the last
		// one set is the one written.
		h.Set(name, v)
		if strings.EqualFold(name, "TLS-Required") {
			f.tlsRequired = v
		}
	}
	h.Set("Mime-Version", "1.0") // canonical spelling: no key to rewrite
	if req.HTML == "" && len(req.Attachments) == 0 {
		// The usual message, one text part: its fields go straight into
		// the message header, as text and the copy below would put them.
		root := &part{text: req.Text, sevenBit: sevenBitText(req.Text)}
		h.Set("Content-Transfer-Encoding", textEncoding(root.sevenBit))
		h.Set("Content-Type", "text/plain; charset=utf-8")
		return f, writePart(w, h.Header, root, chunk)
	}
	root := req.tree()
	// The root part's own fields (Content-Type, -Transfer-Encoding) are
	// the message's.
	fields := root.header.Fields()
	for fields.Next() {
		h.Add(fields.Key(), fields.Value())
	}
	return f, writePart(w, h.Header, root, chunk)
}

// writePart writes p under header h (the message header for the root).
func writePart(w io.Writer, h message.Header, p *part, chunk []byte) error {
	mw, err := message.CreateWriter(w, h)
	if err != nil {
		return fmt.Errorf("httpapi: compose: %w", err)
	}
	if p.sevenBit {
		// A message of one 7bit text part, the usual one: its lines are
		// known to be short (sevenBitText), so go-message's line wrapper,
		// which would find nothing to wrap and allocate for every line
		// end it writes, is left out.
		if err := writeText(w, p.text, chunk); err != nil {
			return err
		}
		return mw.Close()
	}
	return writeChildren(mw, p, chunk)
}

// writeChildren fills a part created by CreatePart.
func writeChildren(w *message.Writer, p *part, chunk []byte) error {
	if p.children == nil {
		var err error
		if p.text != "" {
			err = writeText(w, p.text, chunk)
		} else {
			_, err = w.Write(p.body)
		}
		if err != nil {
			return err
		}
		return w.Close()
	}
	for _, c := range p.children {
		cw, err := w.CreatePart(c.header)
		if err != nil {
			return fmt.Errorf("httpapi: compose: %w", err)
		}
		if err := writeChildren(cw, c, chunk); err != nil {
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
