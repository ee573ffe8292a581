package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"regexp"
	"strings"

	"github.com/emersion/go-smtp"
)

// enhancedRe matches an RFC 3463 enhanced status code at the start of a
// reply text.
var enhancedRe = regexp.MustCompile(`^([245]\.\d{1,3}\.\d{1,3})(?:\s+|$)`)

// replyFromText builds a Reply from a code and a reply text that may begin
// with an enhanced status code.
func replyFromText(code int, text string) Reply {
	text = strings.ReplaceAll(text, "\n", " / ")
	if m := enhancedRe.FindStringSubmatch(text); m != nil {
		return Reply{Code: code, Enhanced: m[1], Text: strings.TrimSpace(text[len(m[0]):])}
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
