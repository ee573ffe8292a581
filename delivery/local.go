package delivery

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
)

// localDecision makes the checks that need no command, against what the
// server offered: whether the message needs SMTPUTF8 and can have it, and
// whether it fits the server's SIZE. useUTF8 says whether MAIL carries the
// SMTPUTF8 parameter.
//
// A refusal is our own decision, not the server's: its reply has no code,
// so the bounce reports a local diagnostic and no Remote-MTA (RFC 3464
// §2.3.5, §2.3.6), as for a domain that does not exist.
func (d *Deliverer) localDecision(s *session, env *Envelope) (useUTF8 bool, r Reply, refuse bool) {
	offered, _ := s.c.Extension("SMTPUTF8")
	if env.SMTPUTF8 || !envelopeASCII(env) {
		switch {
		case offered:
			useUTF8 = true
		case needsUTF8(env):
			// RFC 6531 §3.2: without SMTPUTF8 at the server the message
			// cannot be sent as is; downgrading is out of scope.
			return false, Reply{Enhanced: "5.6.7", Text: "the message needs SMTPUTF8 (a non-ASCII address or header field), which " + s.host + " does not offer"}, true
		}
	}
	if max, ok := s.c.MaxMessageSize(); ok && max > 0 && env.Size > int64(max) {
		return false, Reply{Enhanced: "5.3.4", Text: fmt.Sprintf("message size %d exceeds the fixed limit %d of %s (SIZE, RFC 1870)", env.Size, max, s.host)}, true
	}
	return useUTF8, Reply{}, false
}

// envelopeASCII reports whether the sender and every recipient of env are
// ASCII.
func envelopeASCII(env *Envelope) bool {
	if !isASCII(env.From) {
		return false
	}
	for _, r := range env.Rcpts {
		if !isASCII(r) {
			return false
		}
	}
	return true
}

// maxHeaderScan bounds how much of a header block needsUTF8 reads; a longer
// one is taken to need SMTPUTF8, the safe answer.
const maxHeaderScan = 1 << 20

// needsUTF8 reports whether env cannot travel without SMTPUTF8: a non-ASCII
// envelope address, or a non-ASCII header field (RFC 6532 §3). Only the
// header block is read, never the body: a submitter's SMTPUTF8 parameter on
// an all-ASCII message asks for nothing the message uses, and such a
// message goes to a server without the extension as any other would.
func needsUTF8(env *Envelope) bool {
	if !envelopeASCII(env) {
		return true
	}
	if env.Body == nil {
		return false // the body's absence defers the transaction anyway
	}
	rc, err := env.Body()
	if err != nil {
		return false // so does a body that cannot be opened
	}
	defer rc.Close()
	br := bufio.NewReader(rc)
	for n := 0; n <= maxHeaderScan; {
		line, err := br.ReadSlice('\n')
		n += len(line)
		if !isASCII(string(line)) {
			return true
		}
		switch {
		case err == nil && len(bytes.TrimRight(line, "\r\n")) == 0:
			return false // the empty line that ends the header block
		case err == nil || errors.Is(err, bufio.ErrBufferFull):
		default:
			// The end of a message of headers only; or a read error,
			// which the transaction meets again and defers for.
			return false
		}
	}
	return true
}
