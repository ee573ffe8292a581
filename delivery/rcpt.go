package delivery

import (
	"context"
	"strings"

	"github.com/emersion/go-smtp"
)

// rcptPhase sends one RCPT per recipient of env (with PIPELINING, a window
// at a time ahead of the replies; see txGroup) and records each reply in
// res.Rcpts. It returns the reply codes of the recipients tried, in order.
//
// A server that has taken all the recipients it will take in one
// transaction says 452 4.5.3 "too many recipients" (RFC 5321 §4.5.3.1.10;
// 552 from servers that follow RFC 821, which the RFC says to treat the
// same way). Once at least one recipient was accepted, such a reply is not
// a failure of the recipient: the transaction goes on with the recipients
// accepted so far, and the ones from there on keep no status so that the
// caller sends them in a further transaction at once (see limitReached).
//
// ok is false when the connection failed: every recipient then has its
// status, or none for those past the server's limit, and out says what
// became of the session.
func (d *Deliverer) rcptPhase(ctx context.Context, s *session, g *txGroup, env *Envelope, res *Result) (codes []int, out txOutcome, ok bool) {
	codes = make([]int, 0, len(env.Rcpts))
	accepted, limit := 0, -1
	for i := 0; i < len(env.Rcpts); i++ {
		if i == g.sent {
			if limit >= 0 {
				break // the rest would be refused as too many as well
			}
			g.more(s)
		}
		s.dc.setPhase(d.cfg.timeouts.Rcpt)
		r, err := s.w.reply()
		switch {
		case err != nil || r.Code == 421:
			// The connection is gone (or closing): nobody gets DATA.
			// Replies already received still count.
			rcptsBroken(res, codes, limit, replyOrLocalErr(ctx, "RCPT TO", r, err))
			return nil, txBroken, false
		case r.Code/100 == 2:
			accepted++
		case limit < 0 && accepted > 0 && tooManyRecipients(r):
			d.cfg.log.Info("recipient limit of the server reached; the rest go in another transaction",
				"msgid", env.MsgID, "host", s.host, "accepted", accepted, "left", len(env.Rcpts)-i, "reply", r.String())
			if !g.pipelined {
				return codes, txHealthy, true
			}
			limit = i
		}
		// A refusal of this recipient's own RCPT, as against a refusal
		// of the whole transaction (the suppression list tells them apart).
		res.Rcpts[i].Reply, res.Rcpts[i].AtRcpt = r, r.Code/100 != 2
		codes = append(codes, r.Code)
	}
	if limit >= 0 {
		codes = limitReached(res, codes, limit)
	}
	return codes, txHealthy, true
}

// limitReached settles a pipelined transaction whose recipient limit the
// server reached at index limit: the recipients from there on keep no
// status (they go in the next transaction), and the codes of those before
// are returned. A server that accepted one of them all the same would give
// it the message: then every reply counts as it came, and those refused as
// too many are deferred rather than sent twice.
func limitReached(res *Result, codes []int, limit int) []int {
	for _, c := range codes[limit:] {
		if c/100 == 2 {
			return codes
		}
	}
	for j := limit; j < len(codes); j++ {
		res.Rcpts[j].Reply, res.Rcpts[j].AtRcpt = Reply{}, false
	}
	return codes[:limit]
}

// rcptsBroken records the outcome of a transaction whose connection failed
// (or closed with 421, r) during RCPT: a recipient refused before keeps
// its reply; one accepted, or not answered, is deferred with r; and, past
// the server's recipient limit (limit ≥ 0), recipients keep no status, as
// when the connection had not failed.
func rcptsBroken(res *Result, codes []int, limit int, r Reply) {
	for j := range res.Rcpts {
		switch {
		case limit >= 0 && j >= limit:
			res.Rcpts[j].Reply, res.Rcpts[j].AtRcpt = Reply{}, false
		case j < len(codes) && codes[j]/100 == 5:
			res.Rcpts[j].Status = Bounced
		case j < len(codes) && codes[j]/100 == 4:
			res.Rcpts[j].Status = Deferred
		default:
			res.Rcpts[j].Status, res.Rcpts[j].Reply = Deferred, r
		}
	}
}

// replyOrLocalErr is r, or the local reply for err when there was none.
func replyOrLocalErr(ctx context.Context, step string, r Reply, err error) Reply {
	if err != nil {
		return localReply(ctx, step, err)
	}
	return r
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

// mailOptions are the MAIL parameters of env. mailCommand sends RET and
// ENVID only to a server that offers DSN (RFC 3461 §4.3, §4.4).
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
// NOTIFY and ORCPT, which rcptCommand sends only to a server that offers
// DSN (RFC 3461 §4.1, §4.2). A value rcptCommand would refuse to send is
// left out rather than failing the command.
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
