package sevenbit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/emersion/go-message/textproto"
)

// Errors of Convert, matched with errors.Is.
var (
	// ErrLongHeaderLine: a header line (of the message or of a MIME part)
	// is over MaxLine octets. Re-encoding cannot shorten it.
	ErrLongHeaderLine = errors.New("sevenbit: header line over 998 octets")
	// ErrMalformed: the MIME structure cannot be parsed (a multipart
	// without its boundaries, nesting deeper than maxDepth), so the
	// message cannot be re-encoded part by part.
	ErrMalformed = errors.New("sevenbit: malformed MIME structure")
)

// maxDepth bounds MIME nesting (multipart in message/rfc822 in ...), so a
// hostile message cannot make the walk recurse without end.
const maxDepth = 32

// Opener returns a fresh reader of the whole message. Convert calls it up
// to three times: a planning pass, the converting pass, or a plain copy.
type Opener func() (io.ReadCloser, error)

// Convert writes to w the message that open returns, with every leaf part
// that has 8-bit octets or lines over MaxLine re-encoded as quoted-printable
// or base64 (see the package doc for which). Header fields are copied as
// they are, except Content-Transfer-Encoding of the parts it re-encodes
// (and of composite parts labelled 8bit or binary, relabelled 7bit), and
// MIME-Version and Content-Type added to a non-MIME message it re-encodes.
//
// changed is false when nothing needed re-encoding: w then got the message
// unchanged. Memory use does not depend on the message size.
func Convert(w io.Writer, open Opener) (changed bool, err error) {
	p := &pass{}
	if err := p.run(open); err != nil {
		return false, err
	}
	if !p.anyChange() {
		return false, copyAll(w, open)
	}
	bw := bufio.NewWriter(w)
	c := &pass{plan: p.plan, out: bw}
	if err := c.run(open); err != nil {
		return false, err
	}
	if err := bw.Flush(); err != nil {
		return false, fmt.Errorf("sevenbit: write: %w", err)
	}
	return true, nil
}

func copyAll(w io.Writer, open Opener) error {
	r, err := open()
	if err != nil {
		return fmt.Errorf("sevenbit: open: %w", err)
	}
	defer r.Close()
	_, err = io.Copy(w, r)
	return err
}

// pass walks the MIME tree of a message once. Without out it plans:
// each leaf part's statistics are appended to plan. With out it converts,
// consuming plan in the same order (the walk is deterministic).
type pass struct {
	plan []leaf
	next int
	out  *bufio.Writer // nil while planning
}

func (p *pass) anyChange() bool {
	for _, l := range p.plan {
		if l.encoding() != "" {
			return true
		}
	}
	return false
}

func (p *pass) run(open Opener) error {
	r, err := open()
	if err != nil {
		return fmt.Errorf("sevenbit: open: %w", err)
	}
	defer r.Close()
	src := &source{r: r}
	err = p.message(bufio.NewReader(src), 0)
	if src.err != nil {
		// A failure to read is not the message's fault, whatever the
		// parser made of the truncated input.
		return fmt.Errorf("sevenbit: read: %w", src.err)
	}
	return err
}

// source remembers the first read error other than io.EOF.
type source struct {
	r   io.Reader
	err error
}

func (s *source) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// message handles a header block and its body: the message itself, or
// the content of a message/rfc822 part (RFC 2046 §5.2.1).
func (p *pass) message(br *bufio.Reader, depth int) error {
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	// RFC 2045 §4: without MIME-Version the body is plain text. Content-Type
	// alone is taken as MIME too, as mail readers do.
	isMIME := h.Has("Mime-Version") || h.Has("Content-Type")
	return p.entity(h, br, isMIME, "text/plain", depth)
}

// entity writes one entity (header and body) whose header was read.
func (p *pass) entity(h textproto.Header, body io.Reader, isMIME bool, defType string, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: nested deeper than %d", ErrMalformed, maxDepth)
	}
	if err := checkHeader(h); err != nil {
		return err
	}
	mt, params := defType, map[string]string(nil)
	if isMIME && h.Get("Content-Type") != "" {
		t, ps, err := mime.ParseMediaType(h.Get("Content-Type"))
		if err == nil {
			mt, params = t, ps
		} else {
			mt = "application/octet-stream" // unreadable: treat as opaque data
		}
	}
	cte := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
	switch {
	case strings.HasPrefix(mt, "multipart/") && params["boundary"] != "":
		if err := p.header(h, relabel(cte), nil); err != nil {
			return err
		}
		def := "text/plain"
		if mt == "multipart/digest" {
			def = "message/rfc822" // RFC 2046 §5.1.5
		}
		return p.multipart(body, params["boundary"], def, depth)
	case mt == "message/rfc822" && (cte == "" || cte == "7bit" || cte == "8bit" || cte == "binary"):
		if err := p.header(h, relabel(cte), nil); err != nil {
			return err
		}
		return p.message(bufio.NewReader(body), depth+1)
	}
	return p.leaf(h, body, isMIME, mt, cte)
}

// relabel is the Content-Transfer-Encoding of a composite entity once its
// parts are 7-bit: 8bit and binary become 7bit (RFC 2045 §6.4 allows no
// other encoding for them), anything else is left alone.
func relabel(cte string) string {
	if cte == "8bit" || cte == "binary" {
		return "7bit"
	}
	return ""
}

// multipart walks the parts of a multipart body. The preamble and epilogue
// are dropped (RFC 2046 §5.1.1: they are to be ignored).
func (p *pass) multipart(body io.Reader, boundary, defType string, depth int) error {
	mr := textproto.NewMultipartReader(body, boundary)
	first := true
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if first {
			p.write("--" + boundary + "\r\n")
		} else {
			p.write("\r\n--" + boundary + "\r\n")
		}
		first = false
		if err := p.entity(part.Header, part, true, defType, depth+1); err != nil {
			return err
		}
	}
	if first {
		return fmt.Errorf("%w: multipart without parts", ErrMalformed)
	}
	p.write("\r\n--" + boundary + "--\r\n")
	return p.err()
}

// write copies s to the output, if any; errors stick in the bufio.Writer.
func (p *pass) write(s string) {
	if p.out != nil {
		_, _ = p.out.WriteString(s)
	}
}

func (p *pass) err() error {
	if p.out == nil {
		return nil
	}
	// A bufio.Writer keeps its first error; a zero-length write reports it.
	if _, err := p.out.Write(nil); err != nil {
		return fmt.Errorf("sevenbit: write: %w", err)
	}
	return nil
}

// checkHeader refuses header lines over MaxLine octets: no transfer
// encoding applies to a header.
func checkHeader(h textproto.Header) error {
	f := h.Fields()
	for f.Next() {
		raw, err := f.Raw()
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(string(raw), "\n") {
			if len(strings.TrimSuffix(line, "\r")) > MaxLine {
				return fmt.Errorf("%w: %s", ErrLongHeaderLine, f.Key())
			}
		}
	}
	return nil
}

// header writes h with its Content-Transfer-Encoding set to cte (unchanged
// when cte is ""), then the fields in add, then the empty line.
func (p *pass) header(h textproto.Header, cte string, add []string) error {
	if p.out == nil {
		return nil
	}
	seen := false
	f := h.Fields()
	for f.Next() {
		raw, err := f.Raw()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if cte != "" && strings.EqualFold(f.Key(), "Content-Transfer-Encoding") {
			if !seen {
				p.write("Content-Transfer-Encoding: " + cte + "\r\n")
			}
			seen = true
			continue
		}
		p.write(string(raw))
	}
	for _, a := range add {
		p.write(a + "\r\n")
	}
	if cte != "" && !seen {
		p.write("Content-Transfer-Encoding: " + cte + "\r\n")
	}
	p.write("\r\n")
	return p.err()
}
