package submission

import (
	"io"
)

// inputReader sits between go-smtp's DATA (or BDAT) reader and everything
// else. It enforces three things on the bytes exactly as the client sent
// them, before anything is stored:
//
//   - Line ends: go-smtp's dot-reader passes data through unchanged (it does
//     not convert CRLF), so a bare LF or a bare CR reaches us as is, and we
//     refuse it. Bare line ends are how SMTP smuggling hides a second
//     message from one server's end-of-data parser and shows it to another
//     (the "\n.\n" and "\r.\r" payloads). Two cases never reach us: go-smtp
//     silently drops a "." or ".\r" right after a CRLF (its unstuffing), so
//     "\r\n.\rX" arrives as "\r\nX"; such bytes are gone, not passed on.
//   - Size: go-smtp's MaxMessageBytes only bounds DATA; BDAT chunks bypass
//     it, so the limit is counted here too.
//   - Idle time: go-smtp sets one read deadline before DATA and none while
//     it streams, so ReadTimeout would bound the whole transfer. Refreshing
//     the deadline on every read makes it an inactivity timeout instead.
type inputReader struct {
	r       io.Reader
	max     int64  // 0: no limit
	refresh func() // extends the connection's read deadline; may be nil

	n    int64 // bytes read so far
	prev byte  // the last byte read
	err  error // sticky
}

func (in *inputReader) Read(p []byte) (int, error) {
	if in.err != nil {
		return 0, in.err
	}
	if in.refresh != nil {
		in.refresh()
	}
	n, err := in.r.Read(p)
	prev := in.prev
	for _, c := range p[:n] {
		if (prev == '\r') != (c == '\n') {
			in.err = replyBareLine
			return 0, in.err
		}
		prev = c
	}
	in.prev = prev
	in.n += int64(n)
	if in.max > 0 && in.n > in.max {
		in.err = replyTooBig
		return 0, in.err
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
