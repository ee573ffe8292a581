package submission

import (
	"bytes"
	"io"

	"github.com/emersion/go-smtp"
)

// inputReader sits between go-smtp's DATA (or BDAT) reader and everything
// else. It enforces these on the message bytes, before anything is stored:
//
//   - Line ends: a bare LF or a bare CR is refused. Bare line ends are how
//     SMTP smuggling hides a second message from one server's end-of-data
//     parser and shows it to another (the "\n.\n" and "\r.\r" payloads).
//     For DATA the framer has already checked the raw stream, where
//     go-smtp's dot-reader would drop a ".\r" after a CRLF; its verdict
//     (violation) is taken at the end of the data. BDAT chunks arrive
//     unchanged and are checked here, across chunk boundaries.
//   - NUL is refused: lax next hops take "\r\n\x00.\r\n" for an end of data.
//   - Size: at most max bytes, counted here for DATA and BDAT alike (go-smtp's
//     own DATA limit is off: see unlimitData).
type inputReader struct {
	r         io.Reader
	max       int64                  // 0: no limit
	violation func() *smtp.SMTPError // the framer's verdict on DATA; may be nil

	n    int64 // bytes read so far
	prev byte  // the last byte read
	err  error // sticky
}

func (in *inputReader) Read(p []byte) (int, error) {
	if in.err != nil {
		return 0, in.err
	}
	n, err := in.r.Read(p)
	if reply := lineEndError(in.prev, p[:n]); reply != nil {
		in.err = reply
		return 0, in.err
	}
	prev := in.prev
	if n > 0 {
		prev = p[n-1]
	}
	in.prev = prev
	in.n += int64(n)
	if in.max > 0 && in.n > in.max {
		in.err = replyTooBig
		return 0, in.err
	}
	if err == io.EOF && in.violation != nil {
		if v := in.violation(); v != nil {
			in.err = v
			return 0, in.err
		}
	}
	if err == io.EOF && prev == '\r' {
		in.err = replyBareLine
		return 0, in.err
	}
	if err != nil {
		in.err = err
	}
	return n, err
}

// lineEndError is the reply to the first octet of p that is a NUL, or a
// CR not followed by LF, or an LF not preceded by CR; prev is the octet
// before p (0: none). Nil when p has none. It goes from CR to CR: between
// two, no LF and no NUL may appear.
func lineEndError(prev byte, p []byte) *smtp.SMTPError {
	for len(p) > 0 {
		if prev == '\r' {
			switch p[0] {
			case '\n':
			case 0:
				return replyNUL
			default:
				return replyBareLine
			}
			prev, p = '\n', p[1:]
			continue
		}
		run := p
		if i := bytes.IndexByte(p, '\r'); i >= 0 {
			run = p[:i]
		}
		nul, lf := bytes.IndexByte(run, 0), bytes.IndexByte(run, '\n')
		switch {
		case nul >= 0 && (lf < 0 || nul < lf):
			return replyNUL
		case lf >= 0:
			return replyBareLine
		case len(run) == len(p):
			return nil
		}
		prev, p = '\r', p[len(run)+1:]
	}
	return nil
}
