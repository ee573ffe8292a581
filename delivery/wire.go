package delivery

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
)

// wire is the command and reply layer of a session's transactions (MAIL,
// RCPT, DATA, the message, RSET). go-smtp's client sets the session up
// (greeting, EHLO, STARTTLS, AUTH) and then hands the connection over:
// its client writes one command per write and waits for each reply, and
// cannot pipeline (RFC 2920).
//
// Commands go into one buffered writer, which is flushed only when a reply
// is needed: in lock-step, one command per flush; with PIPELINING, a whole
// group (RSET, MAIL, every RCPT, DATA) in one write, and the message with
// its final dot in another.
//
// The hand-over is safe because a server sends nothing that was not asked
// for before MAIL (RFC 5321 §4.1.1.1: every command gets one reply, and a
// 421 shutdown notice is read here just like any reply), so go-smtp's
// reader holds no unread bytes when the last setup reply has been read.
type wire struct {
	w   *bufio.Writer
	r   *bufio.Reader
	buf []byte // io.CopyBuffer's, for the message: allocated once per session
}

// wireBufSize is the size of each of the wire's buffers: a command group of
// MaxRcptsPerTx recipients fits, as does a typical message, which then
// goes in one write with its final dot.
const wireBufSize = 16 << 10

// maxReplyLines bounds a multiline reply, so that a hostile server cannot
// keep a session reading forever.
const maxReplyLines = 100

// errReplySyntax is a reply that does not follow RFC 5321 §4.2: the
// session is in an unknown state.
var errReplySyntax = errors.New("malformed SMTP reply")

func newWire(c net.Conn) *wire {
	return &wire{w: bufio.NewWriterSize(c, wireBufSize), r: bufio.NewReaderSize(c, 4096)}
}

// cmd queues a command line (without CRLF). It is written with the next
// flush, at the latest when a reply is read.
func (w *wire) cmd(line string) {
	w.w.WriteString(line)   //nolint:errcheck // a write error is sticky: flush reports it
	w.w.WriteString("\r\n") //nolint:errcheck // as above
}

// flush writes what is queued.
func (w *wire) flush() error { return w.w.Flush() }

// reply flushes what is queued, since the server may wait for it, and reads
// the next reply. An error means that no reply could be read: the
// connection failed, or the server does not speak SMTP.
//
// The reply line is at most 512 octets (RFC 5321 §4.5.3.1.5); a longer one
// than the read buffer is a protocol error, like one that does not start
// with a three-digit code whose first digit is 2 to 5 (§4.2).
func (w *wire) reply() (Reply, error) {
	if err := w.w.Flush(); err != nil {
		return Reply{}, err
	}
	code := 0
	var text strings.Builder
	for n := 0; ; n++ {
		line, err := w.r.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			return Reply{}, errReplySyntax
		case err != nil:
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return Reply{}, err
		}
		line = bytes.TrimRight(line, "\r\n")
		c, more, msg, ok := parseReplyLine(line)
		if !ok || (n > 0 && c != code) || n >= maxReplyLines {
			return Reply{}, errReplySyntax
		}
		code = c
		if n > 0 {
			text.WriteByte('\n')
		}
		writeText(&text, msg)
		if !more {
			return replyOfText(code, text.String()), nil
		}
	}
}

// parseReplyLine splits one reply line: "250-text" (more lines follow),
// "250 text" or "250" (the last line).
func parseReplyLine(line []byte) (code int, more bool, text []byte, ok bool) {
	if len(line) < 3 || line[0] < '2' || line[0] > '5' || !isDigit(line[1]) || !isDigit(line[2]) {
		return 0, false, nil, false
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	if len(line) == 3 {
		return code, false, nil, true
	}
	switch line[3] {
	case '-':
		more = true
	case ' ':
	default:
		return 0, false, nil, false
	}
	return code, more, line[4:], true
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

// writeText appends a reply line's text with every control character but
// HT made a space: RFC 5321 §4.2 allows none, and the text goes into logs
// and into the Diagnostic-Code field of bounce notices, where a bare CR
// would break the line.
func writeText(b *strings.Builder, msg []byte) {
	for _, c := range msg {
		if (c < ' ' && c != '\t') || c == 0x7f {
			c = ' '
		}
		b.WriteByte(c)
	}
}

// replyOfText builds a Reply from a (possibly multiline) reply text, as
// go-smtp's client does for its errors: an enhanced status code at the
// start (RFC 3463) is taken out of the text, also where it repeats at the
// start of each further line (RFC 2034 §4).
func replyOfText(code int, text string) Reply {
	if ec, n, ok := enhancedPrefix(text); ok {
		text = strings.ReplaceAll(text[n:], "\n"+ec+" ", "\n")
		return Reply{Code: code, Enhanced: ec, Text: strings.ReplaceAll(strings.TrimSpace(text), "\n", " / ")}
	}
	return Reply{Code: code, Text: strings.ReplaceAll(text, "\n", " / ")}
}

// data returns the writer of the message (see dotWriter).
func (w *wire) data() *dotWriter {
	return &dotWriter{w: w.w, bol: true}
}

// copyBuf is the buffer through which the message is copied into the
// dotWriter; io.Copy would allocate 32 KiB per message.
func (w *wire) copyBuf() []byte {
	if w.buf == nil {
		w.buf = make([]byte, 8<<10)
	}
	return w.buf
}

// dotWriter writes the message as DATA carries it (RFC 5321 §4.5.2): a
// line that begins with a dot gets another, a bare LF becomes CRLF, and
// Close ends the data with the final dot and flushes, as the reply to it
// is what comes next. It writes what net/textproto's DotWriter writes
// (TestDotWriter), a line at a time instead of a byte at a time.
type dotWriter struct {
	w   *bufio.Writer
	bol bool // at the beginning of a line
	cr  bool // the last octet written was CR
}

var (
	dot  = []byte(".")
	crlf = []byte("\r\n")
)

func (d *dotWriter) Write(p []byte) (int, error) {
	n := len(p)
	var err error
	put := func(b []byte) {
		if err == nil {
			_, err = d.w.Write(b)
		}
	}
	for len(p) > 0 && err == nil {
		if d.bol && p[0] == '.' {
			put(dot)
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			put(p)
			d.bol, d.cr = false, p[len(p)-1] == '\r'
			break
		}
		if (i > 0 && p[i-1] == '\r') || (i == 0 && d.cr) {
			put(p[:i+1])
		} else {
			put(p[:i])
			put(crlf)
		}
		d.bol, d.cr = true, false
		p = p[i+1:]
	}
	if err != nil {
		return 0, err
	}
	return n, nil
}

// Close ends the data with the final dot, after a CRLF if the last line
// had none, and flushes.
func (d *dotWriter) Close() error {
	switch {
	case d.cr:
		d.w.WriteByte('\n') //nolint:errcheck // sticky: Flush reports it
	case !d.bol:
		d.w.Write(crlf) //nolint:errcheck // as above
	}
	d.w.WriteString(".\r\n") //nolint:errcheck // as above
	return d.w.Flush()
}
