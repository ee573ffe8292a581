package delivery

import (
	"context"
	"errors"
	"io"
)

// txOutcome says what became of a session after a transaction.
type txOutcome uint8

const (
	txHealthy    txOutcome = iota // the session can carry another transaction (after RSET)
	txDone                        // the reply to the final dot ended the transaction: the next MAIL needs no RSET
	txBroken                      // the connection failed or is in an unknown state: close it
	txRetryFresh                  // a pooled session failed before the transaction began: nothing recorded, dial anew
)

// transact makes one SMTP transaction for env on s and records every
// recipient's outcome in res.Rcpts. It returns right after the reply to the
// final dot, so that the caller can commit before anything else happens.
// Recipients the server's recipient limit left out (see rcptPhase) keep no
// status: the caller sends them in the next transaction.
func (d *Deliverer) transact(ctx context.Context, s *session, env *Envelope, res *Result, pooled bool) txOutcome {
	t := d.cfg.timeouts
	c := s.c
	all := func(st Status, r Reply) {
		for i := range res.Rcpts {
			res.Rcpts[i].Status, res.Rcpts[i].Reply = st, r
		}
	}
	if s.rehello {
		// The RSET that put the session in the pool makes go-smtp send a new
		// EHLO; doing it here surfaces its error (Extension would hide it).
		s.dc.setPhase(t.Command)
		if err := c.Hello(d.cfg.hostname); err != nil {
			return txRetryFresh
		}
		s.rehello = false
	}

	utf8, r, refuse := d.localDecision(s, env)
	if refuse {
		all(Bounced, r)
		return txHealthy
	}

	if env.Body == nil {
		all(Deferred, Reply{Enhanced: "4.3.0", Text: "envelope without a body"})
		return txHealthy
	}
	has8bit, _ := c.Extension("8BITMIME")
	body, err := openBody(env, has8bit)
	if err != nil {
		all(Deferred, Reply{Enhanced: "4.3.0", Text: "opening the message body: " + err.Error()})
		return txHealthy
	}
	defer body.Close()

	s.dc.setPhase(t.Mail)
	if err := c.Mail(env.From, mailOptions(env, utf8)); err != nil {
		r := replyOf(err)
		switch {
		case pooled && (!isReply(err) || r.Code == 421):
			return txRetryFresh
		case !isReply(err):
			all(Deferred, localReply(ctx, "MAIL FROM", err))
			return txBroken
		case r.Code/100 == 5:
			all(Bounced, r)
		default:
			all(Deferred, r)
		}
		if r.Code == 421 {
			return txBroken
		}
		return txHealthy
	}

	codes, out, ok := d.rcptPhase(ctx, s, env, res)
	if !ok {
		return out
	}

	sendData, st := decide(codes, env.AtLeastOne)
	var pend []int
	for i := range st {
		res.Rcpts[i].Status = st[i]
		switch {
		case st[i] == pending:
			pend = append(pend, i)
		case codes[i]/100 == 2:
			res.Rcpts[i].Reply = Reply{Enhanced: "4.5.3", Text: "not sent: all-or-nothing transaction and another recipient was not accepted"}
		}
	}
	if !sendData {
		return txHealthy // the caller's RSET ends the transaction
	}
	setPending := func(st Status, r Reply) {
		for _, i := range pend {
			res.Rcpts[i].Status, res.Rcpts[i].Reply = st, r
		}
	}
	statusOf := func(code int) Status {
		switch code / 100 {
		case 2:
			return Delivered
		case 5:
			return Bounced
		}
		return Deferred
	}

	s.dc.setPhase(t.Data)
	w, err := c.Data()
	if err != nil {
		if !isReply(err) {
			setPending(Deferred, localReply(ctx, "DATA", err))
			return txBroken
		}
		r := replyOf(err)
		if c := r.Code / 100; c != 4 && c != 5 {
			setPending(Deferred, r) // not 354 yet not a refusal: state unknown
			return txBroken
		}
		setPending(statusOf(r.Code), r)
		if r.Code == 421 {
			return txBroken
		}
		return txHealthy
	}

	// Each write of the body must complete within the data block timeout.
	s.dc.setPhase(t.DataBlock)
	br := &errReader{r: body}
	if _, err := io.Copy(w, br); err != nil {
		// The final dot was not sent: nothing can have been delivered.
		// The connection is left mid-DATA and must be closed.
		if br.err != nil {
			setPending(Deferred, Reply{Enhanced: "4.3.0", Text: "reading the message body: " + br.err.Error()})
		} else {
			setPending(Deferred, localReply(ctx, "sending the message body", err))
		}
		return txBroken
	}

	s.dc.setPhase(t.FinalDot)
	resp, err := w.CloseWithResponse()
	switch {
	case err == nil:
		setPending(Delivered, replyFromText(250, resp.StatusText))
	case isReply(err):
		r := replyOf(err)
		setPending(statusOf(r.Code), r)
		if r.Code == 421 {
			return txBroken
		}
	default:
		// The dot may have reached the server: it may have accepted the
		// message. Defer (at-least-once) and say so.
		res.Ambiguous = true
		setPending(Deferred, localReply(ctx, "reply to the final dot (the message may have been delivered)", err))
		return txBroken
	}
	// RFC 5321 §4.1.1.4: the reply to the end of mail data ends the
	// transaction and clears the server's state, so the next MAIL may
	// follow at once; RSET (and the EHLO go-smtp then insists on) would
	// cost two round trips per reused message.
	return txDone
}

// errReader remembers the error of the body reader, to tell it apart from a
// network error in io.Copy.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		e.err = err
	}
	return n, err
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
