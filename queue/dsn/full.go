package dsn

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// MaxReturnBytes caps the message a RET=FULL failure notice returns, as
// Postfix's bounce_size_limit (50000 octets) does; a larger message gets
// its header block returned instead.
const MaxReturnBytes = 50000

// ReadMessage reads the start of a message from r for Notice.Full: at most
// MaxReturnBytes, and complete reports whether that was all of it.
func ReadMessage(r io.Reader) (msg []byte, complete bool, err error) {
	msg, err = io.ReadAll(io.LimitReader(r, MaxReturnBytes+1))
	if err != nil {
		return nil, false, fmt.Errorf("dsn: reading original message: %w", err)
	}
	if len(msg) > MaxReturnBytes {
		return msg[:MaxReturnBytes], false, nil
	}
	return msg, true, nil
}

// errNot7Bit is why a message cannot be returned whole.
var errNot7Bit = errors.New("it is not 7-bit text in lines of at most 998 octets")

// returnedMessage decides what RET=FULL returns: the whole message with CRLF
// line ends, or nil and why only the header block goes. Only a notice that
// reports a failure returns the message (RFC 3461 §4.3). A message/rfc822
// part cannot be quoted-printable (RFC 2046 §5.2.1), so only a 7-bit message
// with lines of at most 998 octets (RFC 5322 §2.1.1) can travel in a notice
// that must reach servers without 8BITMIME.
func (n *Notice) returnedMessage() ([]byte, string) {
	switch {
	case n.Full == nil || !n.anyFailed():
		return nil, ""
	case !n.FullComplete || len(n.Full) > MaxReturnBytes:
		return nil, fmt.Sprintf("it is larger than %d octets", MaxReturnBytes)
	}
	out, err := crlf7bit(n.Full)
	if err != nil {
		return nil, err.Error()
	}
	return out, ""
}

// crlf7bit returns msg with every line ended by CRLF (bare LF accepted),
// or errNot7Bit for 8-bit octets, NUL, a stray CR or a line over 998
// octets.
func crlf7bit(msg []byte) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(len(msg) + 2)
	for len(msg) > 0 {
		line := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line, msg = msg[:i], msg[i+1:]
		} else {
			msg = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > maxLine {
			return nil, errNot7Bit
		}
		for _, c := range line {
			if c == 0 || c == '\r' || c >= 0x80 {
				return nil, errNot7Bit
			}
		}
		b.Write(line)
		b.WriteString("\r\n")
	}
	return b.Bytes(), nil
}
