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
//
// To a server that offers PIPELINING (RFC 2920), the RSET that ends a
// previous transaction, MAIL, every RCPT and DATA go in one write
// (txGroup); the replies are then read in order and each phase handles
// its own, as in lock-step.
//
// Each phase records the outcomes it decides and says whether the
// transaction goes on; when it does not, its txOutcome is the session's.
func (d *Deliverer) transact(ctx context.Context, s *session, env *Envelope, res *Result, pooled bool) txOutcome {
	utf8, body, ok := d.prepare(s, env, res)
	if !ok {
		return txHealthy
	}
	defer body.Close()
	g, err := newTxGroup(s, env, utf8)
	if err != nil {
		// Nothing was sent: the session is as it was.
		setAll(res, Deferred, localReply(ctx, "composing the envelope", err))
		return txHealthy
	}
	g.queue(s)

	if out, ok := d.resetPhase(s, g); !ok {
		return out
	}
	if out, ok := d.mailPhase(ctx, s, g, res, pooled); !ok {
		return out
	}
	codes, out, ok := d.rcptPhase(ctx, s, g, env, res)
	if !ok {
		return out
	}
	pend, sendData := applyDecision(res, codes, env.AtLeastOne)
	return d.dataPhase(ctx, s, g, body, res, pend, sendData)
}

// prepare takes the decisions made before any command: a message this
// server cannot take (localDecision) bounces, and a body that cannot be
// opened defers every recipient. Otherwise it returns whether MAIL needs
// SMTPUTF8 and the body to send, which the caller closes.
func (d *Deliverer) prepare(s *session, env *Envelope, res *Result) (utf8 bool, body io.ReadCloser, ok bool) {
	utf8, r, refuse := d.localDecision(s, env)
	if r2, ok := requireTLSRefusal(s, env); !ok {
		r, refuse = r2, true
	}
	if refuse {
		setAll(res, Bounced, r)
		return false, nil, false
	}
	if env.Body == nil {
		setAll(res, Deferred, Reply{Enhanced: "4.3.0", Text: "envelope without a body"})
		return false, nil, false
	}
	has8bit, _ := s.c.Extension("8BITMIME")
	body, err := openBody(env, has8bit)
	if err != nil {
		setAll(res, Deferred, Reply{Enhanced: "4.3.0", Text: "opening the message body: " + err.Error()})
		return false, nil, false
	}
	return utf8, body, true
}

// resetPhase reads the reply to the RSET that ends the transaction the
// session was left in (see Deliverer.run). A failure records nothing: the
// caller makes the transaction again on another session.
func (d *Deliverer) resetPhase(s *session, g *txGroup) (out txOutcome, ok bool) {
	if !s.needReset {
		return txHealthy, true
	}
	if !g.pipelined {
		s.w.cmd("RSET")
	}
	s.dc.setPhase(d.cfg.timeouts.Command)
	if r, err := s.w.reply(); err != nil || r.Code/100 != 2 {
		return txRetryFresh, false
	}
	s.needReset = false
	return txHealthy, true
}

// mailPhase sends MAIL FROM. A refusal is every recipient's outcome: 5xx
// bounces them, 4xx defers them. On a pooled session, a failure before the
// transaction began (no reply, or 421) records nothing: the session had
// gone stale while idle, and the caller dials anew.
func (d *Deliverer) mailPhase(ctx context.Context, s *session, g *txGroup, res *Result, pooled bool) (out txOutcome, ok bool) {
	if !g.pipelined {
		s.w.cmd(g.mail)
	}
	s.dc.setPhase(d.cfg.timeouts.Mail)
	r, err := s.w.reply()
	switch {
	case err == nil && r.Code/100 == 2:
		return txHealthy, true
	case pooled && (err != nil || r.Code == 421):
		return txRetryFresh, false
	case err != nil:
		setAll(res, Deferred, localReply(ctx, "MAIL FROM", err))
		return txBroken, false
	case r.Code/100 == 5:
		setAll(res, Bounced, r)
	default:
		setAll(res, Deferred, r)
	}
	if r.Code == 421 {
		return txBroken, false
	}
	return d.drain(s, g), false
}

// applyDecision records the at-least-one decision (decide) on the
// recipients RCPT left pending: it returns those that are to receive DATA,
// and whether DATA is sent at all. An accepted recipient held back with the
// others says why.
func applyDecision(res *Result, codes []int, atLeastOne bool) (pend []int, sendData bool) {
	sendData, st := decide(codes, atLeastOne)
	for i := range st {
		res.Rcpts[i].Status = st[i]
		switch {
		case st[i] == pending:
			pend = append(pend, i)
		case codes[i]/100 == 2:
			res.Rcpts[i].Reply = Reply{Enhanced: "4.5.3", Text: "not sent: all-or-nothing transaction and another recipient was not accepted"}
		}
	}
	return pend, sendData
}

// dataPhase sends DATA (unless it went with the pipeline), the body and
// the final dot, and records the outcome of the recipients in pend. When
// nobody is to receive the message (sendData false), a DATA that went with
// the pipeline still has its reply to be read (see unwantedData).
func (d *Deliverer) dataPhase(ctx context.Context, s *session, g *txGroup, body io.Reader, res *Result, pend []int, sendData bool) txOutcome {
	t := d.cfg.timeouts
	if !g.dataSent {
		if !sendData {
			return txHealthy // an RSET ends this one (see Deliverer.run)
		}
		s.w.cmd("DATA")
	}
	s.dc.setPhase(t.Data)
	r, err := s.w.reply()
	switch {
	case !sendData:
		return d.unwantedData(s, r, err)
	case err != nil:
		setRcpts(res, pend, Deferred, localReply(ctx, "DATA", err))
		return txBroken
	case r.Code != 354:
		if c := r.Code / 100; c != 4 && c != 5 {
			setRcpts(res, pend, Deferred, r) // not 354 yet not a refusal: state unknown
			return txBroken
		}
		setRcpts(res, pend, statusOf(r.Code), r)
		if r.Code == 421 {
			return txBroken
		}
		return txHealthy
	}

	// Each write of the body must complete within the data block timeout.
	s.dc.setPhase(t.DataBlock)
	w := s.w.data()
	br := &errReader{r: body}
	if _, err := io.CopyBuffer(w, br, s.w.copyBuf()); err != nil {
		// The final dot was not sent: nothing can have been delivered.
		// The connection is left mid-DATA and must be closed.
		if br.err != nil {
			setRcpts(res, pend, Deferred, Reply{Enhanced: "4.3.0", Text: "reading the message body: " + br.err.Error()})
		} else {
			setRcpts(res, pend, Deferred, localReply(ctx, "sending the message body", err))
		}
		return txBroken
	}

	s.dc.setPhase(t.FinalDot)
	return finalDot(ctx, s, w, res, pend)
}

// finalDot ends the data with the final dot and records the server's reply
// for the recipients in pend.
func finalDot(ctx context.Context, s *session, w io.Closer, res *Result, pend []int) txOutcome {
	err := w.Close()
	var r Reply
	if err == nil {
		r, err = s.w.reply()
	}
	if err != nil {
		// The dot may have reached the server: it may have accepted the
		// message. Defer (at-least-once) and say so.
		res.Ambiguous = true
		setRcpts(res, pend, Deferred, localReply(ctx, "reply to the final dot (the message may have been delivered)", err))
		return txBroken
	}
	setRcpts(res, pend, statusOf(r.Code), r)
	if r.Code == 421 {
		return txBroken
	}
	// RFC 5321 §4.1.1.4: the reply to the end of mail data ends the
	// transaction and clears the server's state, so the next MAIL may
	// follow at once, without RSET.
	return txDone
}

// statusOf is the status a reply code gives the recipients it answers.
func statusOf(code int) Status {
	switch code / 100 {
	case 2:
		return Delivered
	case 5:
		return Bounced
	}
	return Deferred
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
