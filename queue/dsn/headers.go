package dsn

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxHeaderBytes caps the original header block a notice returns. Headers
// are usually a few KiB; the cap keeps a hostile or broken message from
// making a huge notice.
const MaxHeaderBytes = 64 << 10

// ReadHeaders reads the header block of a message from r: the lines up to
// the first empty line, reading at most MaxHeaderBytes plus one line so the
// body is never read beyond that. The result is raw; Build (through
// CleanHeaders) normalizes and caps it. A message without a body (no empty
// line before EOF) is all header.
func ReadHeaders(r io.Reader) ([]byte, error) {
	// One line past the cap lets CleanHeaders see that it truncated.
	br := bufio.NewReader(io.LimitReader(r, MaxHeaderBytes+maxLine+2))
	var out []byte
	for {
		line, err := br.ReadBytes('\n')
		if string(line) == "\n" || string(line) == "\r\n" {
			return out, nil // the empty line that ends the header
		}
		out = append(out, line...)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("dsn: reading original headers: %w", err)
		}
	}
}

// CleanHeaders turns a raw header block (or a whole message) into the
// content of the returned-headers part:
//   - only the lines before the first empty line: the body is never returned;
//   - every line ends in CRLF (bare LF accepted; stray CR and NUL become
//     spaces so they cannot act as line breaks);
//   - invalid UTF-8 becomes U+FFFD, since the part's type promises UTF-8 or
//     ASCII;
//   - a line longer than 998 octets (RFC 5322 §2.1.1) is split into
//     continuation lines, which keeps every octet of its value;
//   - the block is cut at a field boundary so it fits MaxHeaderBytes, and
//     truncated reports it.
func CleanHeaders(raw []byte) (block []byte, truncated bool) {
	var out bytes.Buffer
	fieldStart := 0 // offset in out of the field being copied
	for len(raw) > 0 {
		var line []byte
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			line, raw = raw, nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break // end of the header block
		}
		s := strings.ToValidUTF8(string(line), "\uFFFD")
		s = strings.Map(func(r rune) rune {
			if r == '\r' || r == 0 {
				return ' '
			}
			return r
		}, s)
		if s[0] != ' ' && s[0] != '\t' {
			fieldStart = out.Len()
		}
		writeLongLine(&out, s)
		if out.Len() > MaxHeaderBytes {
			// Drop the field this line belongs to, whole: half a field
			// could misstate an address.
			out.Truncate(fieldStart)
			return out.Bytes(), true
		}
	}
	return out.Bytes(), false
}

// writeLongLine writes s and CRLF, splitting it into continuation lines of
// at most maxLine octets, each starting with an added space.
func writeLongLine(b *bytes.Buffer, s string) {
	for len(s) > maxLine {
		k := cutUTF8(s, maxLine)
		b.WriteString(s[:k])
		b.WriteString("\r\n")
		s = " " + s[k:]
	}
	b.WriteString(s)
	b.WriteString("\r\n")
}
