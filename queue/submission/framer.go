package submission

import (
	"bytes"
	"encoding/base64"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// framer reads the client's byte stream (decrypted, under go-smtp's
// buffer) and classifies it by protocol state before go-smtp sees it, so
// that one rule applies whatever the TCP segmentation:
//
//   - Command lines are at most maxLine octets with their line end
//     (smtp.ErrTooLongLine otherwise: go-smtp replies 500 and closes). A
//     BDAT chunk (RFC 3030) is counted off by its declared size and passed
//     through whole, and DATA content has no line-length limit either:
//     only the message size bounds both.
//   - DATA content must use CRLF only: a bare CR or LF anywhere, including
//     right after a leading dot (".\rX", which go-smtp's dot-reader would
//     drop), is a violation. The framer then skips to the client's
//     CRLF.CRLF and ends go-smtp's DATA there, and violation makes Data
//     refuse the message: no byte is dropped silently, and nothing hidden
//     behind the bad line end runs as a command (SMTP smuggling).
//   - Junk commands (NOOP, RSET, VRFY, EXPN, HELP) are counted; past
//     maxJunk the client is told 421 and the connection ends.
//   - Undecodable base64 in AUTH is replaced by saslMalformed, which the
//     session answers 501 5.5.2 (RFC 4954 §4); go-smtp would say 454.
//   - A MAIL line loses the FUTURERELEASE and MT-PRIORITY parameters
//     (mailparams.go), which go-smtp would refuse; the session takes them
//     with takeMail. The framer hands go-smtp nothing past a MAIL line
//     until go-smtp reads again, i.e. has handled that MAIL, so the
//     parameters the session takes are always those of the MAIL it is in.
//
// The framer knows a DATA command was accepted only when the session says
// so (dataBegins); until then it hands go-smtp nothing past the DATA line.
type framer struct {
	src      io.Reader // the connection
	w        io.Writer // for the junk-limit reply; nil: none
	limit    *int      // go-smtp's line limit, kept at 0 (off)
	hostname string
	maxLine  int
	maxJunk  int32 // 0: no limit

	// mu is held by Read, so that release never takes the buffers from
	// under a Read in progress.
	mu       sync.Mutex
	released bool // the buffers went back to the pool; Read returns io.EOF

	in    []byte // read, not yet classified
	out   []byte // classified, for go-smtp; out[outAt:] not yet handed over
	outAt int
	rerr  error // read error to return once in and out are drained
	cut   bool  // rerr came inside a chunk or DATA: io.EOF after it
	err   error // sticky

	mode      int
	chunk     uint64 // octets left in a BDAT chunk
	dataBegun bool   // the session started Data for the pending DATA
	sasl      bool   // the next line is a SASL response
	closeMsg  string // written once go-smtp has read everything before it
	junk      atomic.Int32
	// transfer, when set, starts (true) and ends (false) the wall-clock
	// bound of a BDAT transfer: from its first BDAT command to the end of
	// its LAST chunk or the next other command.
	transfer func(begin bool)
	// closing, when set, is called before the junk-limit reply.
	closing   func()
	inBDAT    bool
	lastChunk bool
	mail      mailParams // cut from the last MAIL line
	yield     bool       // stop classifying: go-smtp must handle a MAIL first

	// DATA content state.
	lineStart, cr, dot bool
	match              int    // resync: octets of "\r\n.\r\n" matched
	ending             string // resync: what ends go-smtp's DATA
	violation          *smtp.SMTPError
}

const (
	modeCommand = iota
	modeChunk
	modePending // after a DATA line, until the next read
	modeData
	modeResync // after a violation in DATA, until the client's CRLF.CRLF
)

// saslMalformed stands in for a SASL response that is not base64.
var saslMalformed = []byte("\x00outbox: undecodable base64\x00")

const framerBuf = 4096

// newFramer makes a framer reading src, with the buffers of bufs (from an
// earlier connection; nil: new ones).
func newFramer(src io.Reader, limit *int, hostname string, maxLine, maxJunk int, bufs *framerBufs) *framer {
	if bufs == nil {
		bufs = newFramerBufs()
	}
	f := &framer{src: src, limit: limit, hostname: hostname, maxLine: maxLine,
		maxJunk: int32(maxJunk), in: bufs.in[:0], out: bufs.out[:0]}
	f.w, _ = src.(io.Writer)
	return f
}

// Read hands go-smtp the classified stream; after release it returns
// io.EOF.
func (f *framer) Read(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.released {
		return 0, io.EOF
	}
	return f.read(p)
}

func (f *framer) read(p []byte) (int, error) {
	*f.limit = 0 // go-smtp restores its limit after each BDAT chunk
	for f.outAt == len(f.out) {
		f.out, f.outAt = f.out[:0], 0
		if f.err != nil {
			return 0, f.err
		}
		if f.closeMsg != "" {
			f.writeClose()
			continue
		}
		f.classify()
		if len(f.out) > 0 || f.err != nil || f.closeMsg != "" {
			continue
		}
		if f.rerr != nil {
			err := f.rerr
			f.rerr = nil
			if f.cut {
				f.err = io.EOF
			}
			return 0, err
		}
		f.fill()
	}
	n := copy(p, f.out[f.outAt:])
	f.outAt += n
	return n, nil
}

// fill reads more from the connection; a full buffer in command mode is a
// line over maxLine (the other modes consume everything).
func (f *framer) fill() {
	if len(f.in) == cap(f.in) {
		f.err = smtp.ErrTooLongLine
		return
	}
	n, err := f.src.Read(f.in[len(f.in):cap(f.in)])
	f.in = f.in[:len(f.in)+n]
	switch {
	case err == nil:
	case f.mode == modeCommand || f.mode == modePending:
		f.rerr = err
	default:
		// Cut off inside a chunk or DATA: what follows cannot be told
		// apart from commands, so the connection ends, go-smtp seeing
		// this error once and then the end of the stream.
		f.rerr, f.cut = err, true
	}
}

// bdat starts or ends the BDAT transfer bound.
func (f *framer) bdat(begin bool) {
	if f.inBDAT == begin {
		return
	}
	f.inBDAT = begin
	if f.transfer != nil {
		f.transfer(begin)
	}
}

func (f *framer) writeClose() {
	if f.closing != nil {
		f.closing()
	}
	if f.w != nil {
		if d, ok := f.w.(interface{ SetWriteDeadline(time.Time) error }); ok {
			_ = d.SetWriteDeadline(time.Now().Add(rejectTimeout))
		}
		_, _ = io.WriteString(f.w, f.closeMsg)
	}
	f.closeMsg = ""
	f.err = io.EOF
}

// consume drops the first n octets of in.
func (f *framer) consume(n int) {
	f.in = f.in[:copy(f.in, f.in[n:])]
}

// classify moves what in holds to out as far as the state allows.
func (f *framer) classify() {
	for f.err == nil && f.closeMsg == "" {
		switch f.mode {
		case modePending:
			f.mode = modeCommand
			if f.dataBegun {
				f.mode = modeData
				f.lineStart, f.cr, f.dot, f.violation = true, false, false, nil
			}
			f.dataBegun = false
		case modeCommand:
			if !f.commandLine() {
				return
			}
			if f.mode == modePending {
				return // wait for the session to accept DATA, or not
			}
			if f.yield {
				f.yield = false
				return
			}
		case modeChunk:
			if len(f.in) == 0 {
				return
			}
			k := int(min(f.chunk, uint64(len(f.in))))
			f.out = append(f.out, f.in[:k]...)
			f.consume(k)
			if f.chunk -= uint64(k); f.chunk == 0 {
				f.mode = modeCommand
				if f.lastChunk {
					f.bdat(false)
				}
			}
		case modeData, modeResync:
			if len(f.in) == 0 {
				return
			}
			f.content()
		}
	}
}

// dataBegins tells the framer that the session is reading DATA content.
func (f *framer) dataBegins() {
	if f.mode == modePending {
		f.dataBegun = true
	}
}

// commandLine handles one complete command line; false when in holds none.
func (f *framer) commandLine() bool {
	i := bytes.IndexByte(f.in, '\n')
	if i < 0 {
		if len(f.in) >= f.maxLine {
			f.err = smtp.ErrTooLongLine
		}
		return false
	}
	if i+1 > f.maxLine {
		f.err = smtp.ErrTooLongLine
		return false
	}
	line := string(f.in[:i+1])
	f.consume(i + 1)
	text := strings.TrimRight(line, "\r\n")
	if f.sasl {
		f.sasl = false
		if text != "*" && !validBase64(text) {
			line = base64.StdEncoding.EncodeToString(saslMalformed) + "\r\n"
		}
		f.out = append(f.out, line...)
		return true
	}
	verb, arg := splitCommand(text)
	if verb != "BDAT" {
		f.bdat(false)
	}
	switch verb {
	case "NOOP", "RSET", "VRFY", "EXPN", "HELP":
		if f.maxJunk > 0 && f.junk.Add(1) > f.maxJunk {
			f.closeMsg = "421 4.7.0 " + f.hostname + " Too many commands without a message, closing connection\r\n"
			f.in = f.in[:0]
			return true
		}
	case "BDAT":
		n, last, ok := bdatSize(arg)
		if !ok {
			break
		}
		f.bdat(true)
		f.lastChunk = last
		if n > 0 {
			f.mode, f.chunk = modeChunk, n
		} else if last {
			f.bdat(false)
		}
	case "DATA":
		f.mode, f.dataBegun = modePending, false
	case "MAIL":
		var cut string
		if cut, f.mail = cutMailParams(arg); f.mail.any() {
			line = text[:5] + cut + "\r\n"
		}
		f.yield = true
	case "AUTH":
		if parts := strings.Fields(arg); len(parts) > 1 && !validBase64(parts[1]) {
			line = "AUTH " + parts[0] + " " + base64.StdEncoding.EncodeToString(saslMalformed) + "\r\n"
		}
	}
	f.out = append(f.out, line...)
	return true
}

// takeMail returns and clears the parameters cut from the MAIL line
// go-smtp is handling.
func (f *framer) takeMail() mailParams {
	p := f.mail
	f.mail = mailParams{}
	return p
}

// splitCommand splits a command line as go-smtp's parser does: a four
// letter verb, then a space and the argument.
func splitCommand(text string) (verb, arg string) {
	if len(text) < 4 || (len(text) > 4 && text[4] != ' ') {
		return "", ""
	}
	verb = strings.ToUpper(text[:4])
	if len(text) > 5 {
		arg = strings.TrimSpace(text[5:])
	}
	return verb, arg
}

// bdatSize is the chunk size of a BDAT argument that go-smtp accepts, and
// therefore reads the chunk of, whether or not it then refuses the command.
func bdatSize(arg string) (size uint64, last, ok bool) {
	args := strings.Fields(arg)
	if len(args) == 0 || len(args) > 2 || (len(args) == 2 && !strings.EqualFold(args[1], "LAST")) {
		return 0, false, false
	}
	n, err := strconv.ParseUint(args[0], 10, 32)
	return n, len(args) == 2, err == nil
}

// validBase64 is go-smtp's test of a SASL response.
func validBase64(s string) bool {
	if s == "=" {
		return true
	}
	_, err := base64.StdEncoding.DecodeString(s)
	return err == nil
}

// content passes DATA octets on while they are CRLF-clean, ending at the
// CRLF.CRLF; after a violation it drops octets up to the client's
// CRLF.CRLF and ends go-smtp's DATA with f.ending.
func (f *framer) content() {
	const end = "\r\n.\r\n"
	for i := 0; i < len(f.in); i++ {
		c := f.in[i]
		if f.mode == modeResync {
			f.matchEnd(c)
			if f.match == len(end) {
				f.out = append(f.out, f.ending...)
				f.consume(i + 1)
				f.mode = modeCommand
				return
			}
			continue
		}
		if f.cr {
			f.cr = false
			if c != '\n' {
				f.violate(c)
				continue
			}
			f.out = append(f.out, '\r', '\n')
			if f.dot {
				f.consume(i + 1)
				f.mode = modeCommand
				return
			}
			f.lineStart = true
			continue
		}
		switch c {
		case '\r':
			f.cr = true
			continue
		case '\n':
			f.violate(c)
			continue
		}
		// Everything up to the next CR or LF goes on as it is.
		run := plainRun(f.in[i:])
		f.dot = f.lineStart && run == 1 && c == '.'
		f.lineStart = false
		f.out = append(f.out, f.in[i:i+run]...)
		i += run - 1
	}
	f.consume(len(f.in))
}

// plainRun is the length of the run of octets at the start of b that are
// neither CR nor LF.
func plainRun(b []byte) int {
	if i := bytes.IndexByte(b, '\r'); i >= 0 {
		b = b[:i]
	}
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	return len(b)
}

// violate records a bare CR or LF at c and starts skipping to the end of
// the data.
func (f *framer) violate(c byte) {
	f.violation = replyBareLine
	f.mode = modeResync
	switch {
	case f.dot: // go-smtp holds a leading dot: CRLF ends it
		f.ending = "\r\n"
	case f.lineStart:
		f.ending = ".\r\n"
	default:
		f.ending = "\r\n.\r\n"
	}
	f.match = 0
	if c != '\n' {
		f.matchEnd('\r') // the CR that was not followed by LF
	}
	f.matchEnd(c)
}

// matchEnd advances the search for CRLF.CRLF by one octet.
func (f *framer) matchEnd(c byte) {
	const end = "\r\n.\r\n"
	switch {
	case c == end[f.match]:
		f.match++
	case c == '\r':
		f.match = 1
	default:
		f.match = 0
	}
}

// takeViolation returns and clears the framing violation of the last DATA.
func (f *framer) takeViolation() *smtp.SMTPError {
	v := f.violation
	f.violation = nil
	return v
}
