package submission

import (
	"bytes"
	"io"
)

// ehloWriter sits between go-smtp's reply writer and the connection and
// adds keywords to the reply to EHLO: go-smtp v0.25 has no way to
// advertise an extension it does not implement itself.
//
// go-smtp writes the EHLO reply as "250-Hello NAME", one "250-" line per
// keyword and a last "250 " line (RFC 5321 §4.1.1.1), and no other reply
// of its has a first line "250-Hello " (TestGoSMTPInternals checks the
// result). The writer turns that last line into a "250-" line and ends the
// reply with its own keywords instead. Everything else passes through
// unchanged, a line at a time: go-smtp writes whole lines, but a line cut
// across writes is held until its end.
type ehloWriter struct {
	w        io.Writer
	keywords func() []string // read once per EHLO reply
	line     []byte          // an incomplete line held back
	inEHLO   bool            // inside a reply to EHLO
	out      []byte          // scratch for one Write
}

var ehloFirst = []byte("250-Hello ")

func (e *ehloWriter) Write(p []byte) (int, error) {
	e.out = e.out[:0]
	rest := p
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			e.line = append(e.line, rest...)
			break
		}
		var line []byte
		if len(e.line) > 0 {
			e.line = append(e.line, rest[:i+1]...)
			line = e.line
		} else {
			line = rest[:i+1]
		}
		rest = rest[i+1:]
		e.reply(line)
		e.line = e.line[:0]
	}
	if len(e.out) == 0 {
		return len(p), nil
	}
	if _, err := e.w.Write(e.out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// reply appends one line of go-smtp's output to e.out.
func (e *ehloWriter) reply(line []byte) {
	switch {
	case !e.inEHLO:
		e.inEHLO = bytes.HasPrefix(line, ehloFirst)
	case bytes.HasPrefix(line, []byte("250 ")):
		e.inEHLO = false
		kw := e.keywords()
		if len(kw) == 0 {
			break
		}
		e.out = append(e.out, "250-"...)
		e.out = append(e.out, line[4:]...)
		for i, k := range kw {
			if i == len(kw)-1 {
				e.out = append(e.out, "250 "...)
			} else {
				e.out = append(e.out, "250-"...)
			}
			e.out = append(e.out, k...)
			e.out = append(e.out, "\r\n"...)
		}
		return
	case !bytes.HasPrefix(line, []byte("250-")):
		e.inEHLO = false
	}
	e.out = append(e.out, line...)
}
