package delivery

import (
	"context"
	"strings"

	"github.com/emersion/go-smtp"
)

// rcptPhase sends one RCPT per recipient of env and records each reply in
// res.Rcpts. It returns the reply codes of the recipients tried, in order.
//
// A server that has taken all the recipients it will take in one
// transaction says 452 4.5.3 "too many recipients" (RFC 5321 §4.5.3.1.10;
// 552 from servers that follow RFC 821, which the RFC says to treat the
// same way). Once at least one recipient was accepted, such a reply is not
// a failure of the recipient: RCPT stops there, the transaction goes on
// with the recipients accepted so far, and the ones not tried keep no
// status so that the caller sends them in a further transaction at once.
//
// ok is false when the connection failed: every recipient then has its
// status, and out says what became of the session.
func (d *Deliverer) rcptPhase(ctx context.Context, s *session, env *Envelope, res *Result) (codes []int, out txOutcome, ok bool) {
	codes = make([]int, 0, len(env.Rcpts))
	accepted := 0
	for i, rcpt := range env.Rcpts {
		s.dc.setPhase(d.cfg.timeouts.Rcpt)
		err := s.c.Rcpt(rcpt, rcptOptions(env, i))
		switch {
		case err == nil:
			codes = append(codes, 250)
			accepted++
			res.Rcpts[i].Reply = Reply{Code: 250, Text: "recipient accepted"}
		case isReply(err) && accepted > 0 && tooManyRecipients(replyOf(err)):
			d.cfg.log.Info("recipient limit of the server reached; the rest go in another transaction",
				"msgid", env.MsgID, "host", s.host, "accepted", accepted, "left", len(env.Rcpts)-i, "reply", replyOf(err).String())
			return codes, txHealthy, true
		case isReply(err) && replyOf(err).Code != 421:
			res.Rcpts[i].Reply = replyOf(err)
			codes = append(codes, res.Rcpts[i].Reply.Code)
		default:
			// The connection is gone (or closing, 421): nobody gets DATA.
			// Replies already received still count.
			r := replyOrLocal(ctx, "RCPT TO", err)
			for j := range env.Rcpts {
				switch {
				case j < i && codes[j]/100 == 5:
					res.Rcpts[j].Status = Bounced
				case j < i && codes[j]/100 == 4:
					res.Rcpts[j].Status = Deferred
				default:
					res.Rcpts[j].Status, res.Rcpts[j].Reply = Deferred, r
				}
			}
			return nil, txBroken, false
		}
	}
	return codes, txHealthy, true
}

// tooManyRecipients reports whether r is a server's "too many recipients"
// reply (RFC 5321 §4.5.3.1.10): 452, or 552 from older servers, with the
// enhanced code x.5.3 (RFC 3463) or saying so in its text.
func tooManyRecipients(r Reply) bool {
	if r.Code != 452 && r.Code != 552 {
		return false
	}
	return r.Enhanced == "4.5.3" || r.Enhanced == "5.5.3" ||
		strings.Contains(strings.ToLower(r.Text), "too many recipients")
}

// mailOptions are the MAIL parameters of env. go-smtp sends RET and ENVID
// only to a server that offers DSN (RFC 3461 §4.3, §4.4).
func mailOptions(env *Envelope, utf8 bool) *smtp.MailOptions {
	o := &smtp.MailOptions{Size: env.Size, UTF8: utf8, EnvelopeID: env.EnvID, RequireTLS: env.RequireTLS}
	switch env.Ret {
	case string(smtp.DSNReturnFull), string(smtp.DSNReturnHeaders):
		o.Return = smtp.DSNReturn(env.Ret)
	}
	if !printableASCII(o.EnvelopeID) {
		o.EnvelopeID = "" // RFC 3461 §4.4: xtext of printable ASCII
	}
	return o
}

// rcptOptions are the RCPT parameters of the i-th recipient of env: its
// NOTIFY and ORCPT, which go-smtp sends only to a server that offers DSN
// (RFC 3461 §4.1, §4.2). A value go-smtp would refuse to send is left out
// rather than failing the command.
func rcptOptions(env *Envelope, i int) *smtp.RcptOptions {
	if i >= len(env.DSN) {
		return nil
	}
	p := env.DSN[i]
	o := &smtp.RcptOptions{}
	for _, n := range p.Notify {
		o.Notify = append(o.Notify, smtp.DSNNotify(strings.ToUpper(n)))
	}
	if typ, addr, ok := strings.Cut(p.ORcpt, ";"); ok && addr != "" {
		switch t := smtp.DSNAddressType(strings.ToUpper(strings.TrimSpace(typ))); {
		case t == smtp.DSNAddressTypeRFC822 && printableASCII(addr):
			o.OriginalRecipientType, o.OriginalRecipient = t, addr
		case t == smtp.DSNAddressTypeUTF8:
			o.OriginalRecipientType, o.OriginalRecipient = t, addr
		}
	}
	return o
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
