package delivery

// txGroup is the command lines of one transaction and how they go out.
//
// With PIPELINING (RFC 2920 §3.1), RSET (when the previous transaction of
// the delivery ended without DATA), MAIL and every RCPT go in one write,
// with DATA last: the one round trip replaces 2 + len(rcpts), and the
// message with its final dot follows in the next write. Without it, each
// phase writes its command and waits for the reply (lock-step).
//
// At most pipelineWindow RCPTs are written ahead of their replies, so that
// neither side can fill its socket buffers with replies the other does not
// read while it is still writing commands (the deadlock of §3.1); a longer
// list is written a window at a time.
type txGroup struct {
	mail      string
	rcpts     []string
	pipelined bool // commands are written ahead of the replies
	// dataAhead: DATA goes with the pipeline. It does not for an
	// all-or-nothing transaction of several recipients: once a server
	// has said 354 there is no way back but a message, and the decision
	// whether to send one needs every RCPT reply first.
	dataAhead bool
	sent      int  // RCPTs written
	dataSent  bool // DATA written
}

// pipelineWindow is the number of RCPTs written ahead of their replies:
// a few kilobytes of replies, well within any socket buffer.
const pipelineWindow = 100

// newTxGroup composes the commands of env's transaction on s; an error
// (a parameter the server cannot take, e.g. SMTPUTF8 it does not offer)
// means nothing can be sent.
func newTxGroup(s *session, env *Envelope, utf8 bool) (*txGroup, error) {
	mail, err := mailCommand(s.c, env.From, mailOptions(env, utf8))
	if err != nil {
		return nil, err
	}
	g := &txGroup{mail: mail, rcpts: make([]string, len(env.Rcpts)), pipelined: s.pipelining}
	for i, rcpt := range env.Rcpts {
		if g.rcpts[i], err = rcptCommand(s.c, rcpt, rcptOptions(env, i)); err != nil {
			return nil, err
		}
	}
	g.dataAhead = g.pipelined && (env.AtLeastOne || len(env.Rcpts) == 1)
	return g, nil
}

// queue writes the pipelined commands into the session's buffer; the first
// reply read sends them in one write. In lock-step it writes nothing: each
// phase writes its own command.
func (g *txGroup) queue(s *session) {
	if !g.pipelined {
		return
	}
	if s.needReset {
		s.w.cmd("RSET")
	}
	s.w.cmd(g.mail)
	g.more(s)
}

// more writes the next window of RCPTs (one in lock-step), and DATA after
// the last one when it goes with the pipeline.
func (g *txGroup) more(s *session) {
	n := 1
	if g.pipelined {
		n = pipelineWindow
	}
	for end := min(g.sent+n, len(g.rcpts)); g.sent < end; g.sent++ {
		s.w.cmd(g.rcpts[g.sent])
	}
	if g.sent == len(g.rcpts) && g.dataAhead && !g.dataSent {
		s.w.cmd("DATA")
		g.dataSent = true
	}
}

// drain reads the replies to the commands that went in the pipeline after
// a refused MAIL, so that the session stays in step with the server
// (which answers them 503, bad sequence). It returns what became of the
// session.
func (d *Deliverer) drain(s *session, g *txGroup) txOutcome {
	for range g.sent {
		s.dc.setPhase(d.cfg.timeouts.Rcpt)
		if r, err := s.w.reply(); err != nil || r.Code == 421 {
			return txBroken
		}
	}
	if !g.dataSent {
		return txHealthy
	}
	s.dc.setPhase(d.cfg.timeouts.Data)
	r, err := s.w.reply()
	return d.unwantedData(s, r, err)
}

// unwantedData handles the reply to a DATA that went in the pipeline when
// no recipient was accepted (RFC 2920 §3.1: the client must check it and
// cannot assume the refusal). A refusal (503 or 554 as that section asks
// of a server, or any other 4xx or 5xx) leaves the session usable; the
// RSET that follows ends the transaction (see Deliverer.run). A server
// that said 354 all the same gets the single dot the section prescribes,
// which delivers nothing as no recipient is on the transaction, and the
// session, whose state we can no longer trust, is closed.
func (d *Deliverer) unwantedData(s *session, r Reply, err error) txOutcome {
	switch {
	case err != nil || r.Code == 421:
		return txBroken
	case r.Code != 354:
		return txHealthy
	}
	s.dc.setPhase(d.cfg.timeouts.FinalDot)
	s.w.cmd(".")
	s.w.reply() //nolint:errcheck // the session is closed whatever the reply
	return txBroken
}
