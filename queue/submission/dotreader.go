package submission

import (
	"bufio"
	"bytes"
	"io"
)

// The states of go-smtp's DATA reader (its dataReader.state), which
// dotReader shares: go-smtp reads the rest of a refused message with its
// own reader after Data returns, from the state dotReader left.
const (
	dotBeginLine = iota // at the beginning of a line; initial state
	dotDot              // read "." at the beginning of a line
	dotDotCR            // read ".\r" at the beginning of a line
	dotCR               // read "\r", possibly at the end of a line
	dotData             // in the middle of a line
	dotEOF              // read the ".\r\n" that ends the data
)

// dotReader reads DATA content (RFC 5321 §4.5.2: a leading dot removed,
// the line "." the end) from go-smtp's buffered reader, as go-smtp's own
// DATA reader does, octet for octet and error for error, but in runs: the
// middle of a line, everything up to the next CR, is copied at once where
// go-smtp calls ReadByte for every octet. Only what it hands on is
// consumed from r, so go-smtp finds the buffer and the state where its
// reader would have left them.
//
// Bare CR and bare LF are passed on as go-smtp passes them, and dropped
// where it drops them (".\rX" loses ".\r"): the framer has already refused
// such content (framer.go), and inputReader checks again what arrives.
type dotReader struct {
	r     *bufio.Reader
	state *int // go-smtp's dataReader.state
}

// Read fills p from the data, returning io.EOF once the final ".\r\n" is
// read and io.ErrUnexpectedEOF if the stream ends before it. Unlike
// go-smtp's reader it returns what it has rather than wait for more input
// to fill p.
func (d *dotReader) Read(p []byte) (n int, err error) {
	for n < len(p) && *d.state != dotEOF {
		if d.r.Buffered() == 0 {
			if n > 0 {
				return n, nil
			}
			if _, err = d.r.Peek(1); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return n, err
			}
		}
		buf, _ := d.r.Peek(d.r.Buffered())
		used, k := d.scan(p[n:], buf)
		n += k
		_, _ = d.r.Discard(used)
	}
	if *d.state == dotEOF {
		err = io.EOF
	}
	return n, err
}

// scan runs the state machine over buf, writing what it keeps to p; it
// returns the octets of buf used and of p written.
func (d *dotReader) scan(p, buf []byte) (used, n int) {
	state := *d.state
	defer func() { *d.state = state }()
	for used < len(buf) && n < len(p) && state != dotEOF {
		if state == dotData {
			// The middle of a line: everything up to and including the
			// next CR goes on unchanged.
			run := buf[used:min(len(buf), used+len(p)-n)]
			if i := bytes.IndexByte(run, '\r'); i >= 0 {
				run, state = run[:i+1], dotCR
			}
			n += copy(p[n:], run)
			used += len(run)
			continue
		}
		c := buf[used]
		used++
		keep := true
		switch state {
		case dotBeginLine:
			switch c {
			case '.':
				state, keep = dotDot, false
			case '\r':
				state = dotCR
			default:
				state = dotData
			}
		case dotDot:
			if c == '\r' {
				state, keep = dotDotCR, false
			} else {
				state = dotData
			}
		case dotDotCR:
			if c == '\n' {
				state, keep = dotEOF, false
			} else {
				state = dotData
			}
		case dotCR:
			if c == '\n' {
				state = dotBeginLine
			} else {
				state = dotData
			}
		}
		if keep {
			p[n] = c
			n++
		}
	}
	return used, n
}
