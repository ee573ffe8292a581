package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"strings"

	"github.com/emersion/go-smtp"
)

// enhancedPrefix finds an RFC 3463 enhanced status code at the start of a
// reply text (class 2, 4 or 5, then subject and detail of one to three
// digits each), followed by whitespace or the end. It returns the code and
// the length of the code with the whitespace after it; ok false when the
// text does not start with one. It runs on every reply of every
// delivery, so it scans rather than runs a regular expression.
func enhancedPrefix(text string) (code string, n int, ok bool) {
	if len(text) < 5 || (text[0] != '2' && text[0] != '4' && text[0] != '5') || text[1] != '.' {
		return "", 0, false
	}
	i := 2
	for part := 0; part < 2; part++ {
		start := i
		for i < len(text) && i-start < 3 && isDigit(text[i]) {
			i++
		}
		if i == start {
			return "", 0, false
		}
		if part == 0 {
			if i == len(text) || text[i] != '.' {
				return "", 0, false
			}
			i++
		}
	}
	code = text[:i]
	if i < len(text) && !isSpace(text[i]) {
		return "", 0, false
	}
	for i < len(text) && isSpace(text[i]) {
		i++
	}
	return code, i, true
}

// isSpace is RE2's \s: HT, LF, FF, CR and SP.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

// replyFromText builds a Reply from a code and a reply text that may begin
// with an enhanced status code.
func replyFromText(code int, text string) Reply {
	text = strings.ReplaceAll(text, "\n", " / ")
	if ec, n, ok := enhancedPrefix(text); ok {
		return Reply{Code: code, Enhanced: ec, Text: strings.TrimSpace(text[n:])}
	}
	return Reply{Code: code, Text: text}
}

// replyOf turns an error from a session step into a Reply: the server's
// reply when there was one, the local error otherwise (Code 0).
func replyOf(err error) Reply {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		r := Reply{Code: se.Code, Text: strings.ReplaceAll(se.Message, "\n", " / ")}
		if ec := se.EnhancedCode; ec != smtp.EnhancedCodeNotSet && ec != smtp.NoEnhancedCode {
			r.Enhanced = fmt.Sprintf("%d.%d.%d", ec[0], ec[1], ec[2])
		}
		return r
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return replyFromText(te.Code, te.Msg)
	}
	return Reply{Text: err.Error()}
}

// isReply reports whether err carries an SMTP reply from the server (as
// opposed to a network or local failure).
func isReply(err error) bool {
	var se *smtp.SMTPError
	var te *textproto.Error
	return errors.As(err, &se) || errors.As(err, &te)
}

// localReply is a Reply for a failure on our side or the network's, with the
// context's error in front when the attempt was canceled (the I/O error is
// then only a consequence).
func localReply(ctx context.Context, step string, err error) Reply {
	if ctx.Err() != nil {
		return Reply{Text: fmt.Sprintf("%s: %v (%v)", step, context.Cause(ctx), err)}
	}
	return Reply{Text: fmt.Sprintf("%s: %v", step, err)}
}
