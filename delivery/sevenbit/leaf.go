package sevenbit

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"mime/quotedprintable"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/textproto"
)

// Transfer encodings Convert writes.
const (
	quotedPrintable = "quoted-printable"
	base64Encoding  = "base64"
)

// leaf is what the planning pass learnt about one leaf part.
type leaf struct {
	cte       string // declared Content-Transfer-Encoding, lower case
	text      bool   // media type text/*
	octets    int64
	high      int64 // octets over 127
	nul       bool
	longLine  bool
	validUTF8 bool // the octets are UTF-8 (for a non-MIME message's charset)
}

// encoding is the transfer encoding the leaf is re-encoded with, or ""
// when it is left as it is: it is 7-bit with short lines already, or its
// encoding is one Convert cannot decode.
//
// Quoted-printable keeps mostly-ASCII text readable; past one 8-bit octet
// in six it would be larger than base64 (3 octets for each, against 4/3
// for all), so such text, and everything that is not text, gets base64.
// A part already in quoted-printable or base64 (yet with 8-bit octets or
// long lines: broken, or base64 without line breaks) keeps its encoding.
func (l leaf) encoding() string {
	if l.high == 0 && !l.longLine {
		return ""
	}
	switch l.cte {
	case quotedPrintable, base64Encoding:
		return l.cte
	case "", "7bit", "8bit", "binary":
	default:
		return "" // x-uuencode and the like: opaque
	}
	if l.text && !l.nul && l.high*6 <= l.octets {
		return quotedPrintable
	}
	return base64Encoding
}

// leaf plans or converts one leaf part whose header h was read.
func (p *pass) leaf(h textproto.Header, body io.Reader, isMIME bool, mt, cte string) error {
	if p.out == nil {
		l := leaf{cte: cte, text: strings.HasPrefix(mt, "text/")}
		if err := l.measure(body); err != nil {
			return err
		}
		p.plan = append(p.plan, l)
		return nil
	}
	if p.next >= len(p.plan) {
		return fmt.Errorf("%w: the message changed between passes", ErrMalformed)
	}
	l := p.plan[p.next]
	p.next++
	enc := l.encoding()
	if enc == "" {
		if err := p.header(h, "", nil); err != nil {
			return err
		}
		_, err := io.Copy(p.out, body)
		return err
	}
	var add []string
	if !isMIME {
		add = []string{"MIME-Version: 1.0", "Content-Type: text/plain; charset=" + l.charset()}
	}
	if err := p.header(h, enc, add); err != nil {
		return err
	}
	return p.encode(body, l.cte, enc)
}

// charset names the character set of a non-MIME message that gets a
// Content-Type: RFC 2045 §5.2's us-ascii, UTF-8 when the octets are, or
// RFC 1428's unknown-8bit.
func (l leaf) charset() string {
	switch {
	case l.high == 0:
		return "us-ascii"
	case l.validUTF8:
		return "utf-8"
	}
	return "unknown-8bit"
}

// measure reads a leaf's body and counts what encoding decides on.
func (l *leaf) measure(body io.Reader) error {
	br := bufio.NewReader(body)
	line := 0
	l.validUTF8 = true
	var carry []byte // an incomplete UTF-8 sequence at a chunk's end
	buf := make([]byte, 32*1024)
	for {
		n, err := br.Read(buf)
		chunk := buf[:n]
		for _, c := range chunk {
			switch {
			case c == '\n':
				line = 0
				continue
			case c == '\r':
				continue
			case c == 0:
				l.nul = true
			case c >= 0x80:
				l.high++
			}
			line++
			if line > MaxLine {
				l.longLine = true
			}
		}
		l.octets += int64(n)
		if l.validUTF8 && l.high > 0 {
			carry = l.checkUTF8(append(carry, chunk...), err != nil)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			// A read error of the source itself is reported by pass.run;
			// this is the multipart reader's: EOF before the boundary.
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
	}
}

// checkUTF8 validates b, returning an incomplete trailing sequence to
// prepend to the next chunk (unless final).
func (l *leaf) checkUTF8(b []byte, final bool) []byte {
	for len(b) > 0 {
		if !final && len(b) < utf8.UTFMax && !utf8.FullRune(b) {
			return append([]byte(nil), b...)
		}
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size <= 1 {
			l.validUTF8 = false
			return nil
		}
		b = b[size:]
	}
	return nil
}

// encode decodes body from its current transfer encoding and writes it in
// enc. The body's CRLF line ends are line breaks of the text (RFC 2045
// §6.7 rule 4), so quoted-printable keeps them as hard line breaks.
func (p *pass) encode(body io.Reader, from, enc string) error {
	switch from {
	case quotedPrintable:
		body = quotedprintable.NewReader(body)
	case base64Encoding:
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	var w io.WriteCloser
	switch enc {
	case quotedPrintable:
		w = quotedprintable.NewWriter(p.out)
	default:
		w = base64.NewEncoder(base64.StdEncoding, &lineBreaker{w: p.out})
	}
	if _, err := io.Copy(w, body); err != nil {
		return fmt.Errorf("sevenbit: re-encode: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("sevenbit: re-encode: %w", err)
	}
	if enc == base64Encoding {
		// End the last line: the body of a message must end with CRLF, and
		// in a multipart the extra line end is whitespace base64 ignores.
		p.write("\r\n")
	}
	return p.err()
}

// lineBreaker puts a CRLF after every 76 octets: base64 lines are at most
// 76 characters (RFC 2045 §6.8).
type lineBreaker struct {
	w   io.Writer
	col int
}

func (b *lineBreaker) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if b.col == 76 {
			if _, err := io.WriteString(b.w, "\r\n"); err != nil {
				return n, err
			}
			b.col = 0
		}
		k := min(76-b.col, len(p))
		m, err := b.w.Write(p[:k])
		n += m
		b.col += m
		if err != nil {
			return n, err
		}
		p = p[k:]
	}
	return n, nil
}
