package sevenbit

import (
	"bytes"
	"encoding/binary"
)

// MaxLine is the longest line SMTP and RFC 5322 allow, in octets without
// the CRLF (RFC 5322 §2.1.1, RFC 5321 §4.5.3.1.6).
const MaxLine = 998

// Scanner classifies a message as it streams past: it is an io.Writer that
// never fails, meant to sit beside the spool in an io.MultiWriter, so that
// deciding whether a message needs Convert costs no extra pass.
// The zero value is ready to use.
type Scanner struct {
	inBody bool // the empty line that ends the header was seen
	line   int  // octets of the current line so far, CR and LF excluded

	report Report
}

// Report is what a Scanner found.
type Report struct {
	// HeaderEightBit: the header block has octets over 127 (RFC 6532
	// internationalised headers; Convert leaves headers alone).
	HeaderEightBit bool
	// BodyEightBit: the body has octets over 127.
	BodyEightBit bool
	// LongHeaderLine / LongBodyLine: a line over MaxLine octets.
	LongHeaderLine bool
	LongBodyLine   bool
}

// EightBit reports whether the message has 8-bit octets anywhere: it then
// needs 8BITMIME at the next hop, or a 7-bit form (RFC 6152 §3).
func (r Report) EightBit() bool { return r.HeaderEightBit || r.BodyEightBit }

// NeedsConvert reports whether Convert would change the body: it has 8-bit
// octets or lines too long for SMTP.
func (r Report) NeedsConvert() bool { return r.BodyEightBit || r.LongBodyLine }

// Write implements io.Writer; it always consumes all of p. It goes line by
// line (the header's end and a line's length change only at LF), each
// line's octets counted and checked for the high bit in bulk.
func (s *Scanner) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.within(p)
			break
		}
		s.within(p[:i])
		if !s.inBody && s.line == 0 {
			s.inBody = true
		}
		s.line = 0
		p = p[i+1:]
	}
	return n, nil
}

// within accounts for octets of the current line (p holds no LF). CR
// counts for nothing, wherever it is.
func (s *Scanner) within(p []byte) {
	s.line += len(p) - bytes.Count(p, []byte{'\r'})
	long, eight := &s.report.LongHeaderLine, &s.report.HeaderEightBit
	if s.inBody {
		long, eight = &s.report.LongBodyLine, &s.report.BodyEightBit
	}
	if s.line > MaxLine {
		*long = true
	}
	if !*eight && hasHighBit(p) {
		*eight = true
	}
}

// hasHighBit reports whether an octet of p is over 127, eight at a time.
func hasHighBit(p []byte) bool {
	for len(p) >= 8 {
		if binary.LittleEndian.Uint64(p)&0x8080808080808080 != 0 {
			return true
		}
		p = p[8:]
	}
	for _, c := range p {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// Report returns what the Scanner found so far.
func (s *Scanner) Report() Report { return s.report }
