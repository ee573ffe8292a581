package dsn

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// Line lengths of RFC 5322 §2.1.1, in octets and excluding the CRLF.
const (
	maxLine  = 998 // MUST
	softLine = 78  // SHOULD
)

// MaxDiagnosticBytes caps a diagnostic: remote servers can send long
// multi-line replies, and the notice only needs the gist.
const MaxDiagnosticBytes = 1000

// writeField writes "name: value" and CRLF, folding (RFC 5322 §2.2.3) before
// spaces so lines stay within softLine where the words allow it. Folding
// only inserts CRLF before an existing space, so unfolding restores the value
// exactly; a single word that would pass maxLine is split with an added
// space, which only unstructured text (a diagnostic) can reach: addresses are
// bounded by MaxAddrBytes.
func writeField(b *bytes.Buffer, name, value string) {
	b.WriteString(name)
	b.WriteByte(':')
	lineLen := len(name) + 1
	hasText := false // the current line has something besides leading WSP
	rest := " " + value
	for rest != "" {
		// A segment is one space and the run of non-spaces after it.
		i := 1
		for i < len(rest) && rest[i] != ' ' {
			i++
		}
		seg := rest[:i]
		rest = rest[i:]
		if hasText && lineLen+len(seg) > softLine {
			b.WriteString("\r\n")
			lineLen, hasText = 0, false
		}
		for lineLen+len(seg) > maxLine {
			// Leave room for the space that starts the next line.
			k := cutUTF8(seg, maxLine-lineLen)
			b.WriteString(seg[:k])
			b.WriteString("\r\n")
			seg = " " + seg[k:]
			lineLen = 0
		}
		b.WriteString(seg)
		lineLen += len(seg)
		if strings.TrimLeft(seg, " ") != "" {
			hasText = true
		}
	}
	b.WriteString("\r\n")
}

// wrapText writes text as lines of at most width octets where the words allow
// it (and never over maxLine), each starting with indent and ending in CRLF.
func wrapText(b *bytes.Buffer, indent, text string, width int) {
	words := strings.Fields(text)
	if len(words) == 0 {
		return
	}
	line := indent
	for _, w := range words {
		// A word too long for any line is split at a UTF-8 boundary.
		for len(indent)+len(w) > maxLine {
			if line != indent {
				b.WriteString(line + "\r\n")
				line = indent
			}
			k := cutUTF8(w, maxLine-len(indent))
			b.WriteString(indent + w[:k] + "\r\n")
			w = w[k:]
		}
		switch {
		case line == indent:
			line += w
		case len(line)+1+len(w) > width:
			b.WriteString(line + "\r\n")
			line = indent + w
		default:
			line += " " + w
		}
	}
	b.WriteString(line + "\r\n")
}

// cutUTF8 returns the largest index ≤ n that is a rune boundary of s (at
// least 1, so splitting always progresses).
func cutUTF8(s string, n int) int {
	if n >= len(s) {
		return len(s)
	}
	if n < 1 {
		n = 1
	}
	for k := n; k > 0; k-- {
		if utf8.RuneStart(s[k]) {
			return k
		}
	}
	return n
}

// clean flattens untrusted text (a remote reply, a local error) to one line:
// invalid UTF-8 becomes U+FFFD, controls and line breaks become spaces, runs
// of white space collapse, and it is capped at max octets.
func clean(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:cutUTF8(s, max-3)] + "..."
	}
	return s
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
