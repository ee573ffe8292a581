package submission

import (
	"bufio"
	"errors"
	"io"
	"slices"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/outbox-mta/outbox/store"
)

// Data implements smtp.Session. It streams the message into a spool body,
// adding trace and missing header fields on the way, and answers 250 only
// after Spool.Enqueue has returned nil, i.e. once the message is durable.
// Every error it returns is an unwrapped *smtp.SMTPError.
func (s *session) Data(r io.Reader) error {
	e := s.envelope()
	from, rcpts, user := e.from, e.rcpts, e.user
	if len(rcpts) == 0 {
		return s.reject("data", replyNoRecipients)
	}
	if !s.srv.beginData() {
		return s.reject("data", replyShuttingDown)
	}
	defer s.srv.data.Done()

	opts := &s.srv.opts
	body, err := opts.Spool.NewBody()
	if err != nil {
		return s.storageFailed("new body", err)
	}
	committed := false
	var d *draft // once made, it owns body, and may replace it (conform)
	defer func() {
		switch {
		case committed:
		case d != nil:
			d.release()
		default:
			_ = body.Discard()
		}
	}()
	id := body.ID()

	in, done, err := s.openTransfer(r)
	if err != nil {
		return s.storageFailed("open transfer", err, "msgid", id)
	}
	defer done()
	br := s.srv.bufReader(in)
	defer s.srv.putReader(br)
	h, atLeastOne, err := s.readHead(br, user, id)
	if err != nil {
		return err
	}
	idemKey, err := h.takeIdempotencyKey()
	if err != nil {
		return s.reject("data", replyBadHeader(err.Error()), "msgid", id)
	}

	now := opts.Now()
	c := &composer{h: &h, now: now, signer: opts.Signer, trace: traceInfo{helo: e.helo, ip: s.ip,
		hostname: opts.Hostname, tls: s.tls, auth: user != "", rcpts: rcpts, date: now}}
	if d, err = newDraft(body, c); err != nil {
		return s.storageFailed("dkim sign", err, "msgid", id)
	}
	if err := d.fill(c.head(id), br); err != nil {
		return s.readFailed(id, err)
	}
	if d.w.err != nil {
		return s.storageFailed("write body", d.w.err, "msgid", id)
	}
	conformed, err := s.conform(d, c)
	if err != nil {
		return err
	}
	d, id = conformed, conformed.body.ID()
	var prefix []byte
	var signed []string
	if d.sig != nil {
		if prefix, signed, err = d.sig.Finish(); err != nil {
			return s.storageFailed("dkim sign", err, "msgid", id)
		}
	}

	m := s.message(&e, id, d, now)
	m.Prefix, m.Signed, m.AtLeastOne = prefix, signed, atLeastOne
	m.MessageID = messageID(&h, id, opts.Hostname)
	m.TLSReq = tlsRequirement(e.requireTLS, &h)
	if err := s.commit(&e, m, d.body, idemKey); err != nil {
		return err // a retry's 250, a refusal or a storage failure
	}
	committed = true
	s.accepted()
	s.srv.log.Info("accepted", "msgid", id, "message_id", m.MessageID, "from", from, "rcpts", wordList(rcpts), "size", m.Size,
		"client", s.client, "user", user, "tls", s.tlsAttr(), "dkim", wordList(signed),
		"body", bodyAttr(m.BodyType), "body_declared", string(e.declared))
	return replyQueued(id)
}

// envelope is the transaction as DATA begins, copied under the lock.
type envelope struct {
	from, user, helo string
	rcpts            []string
	utf8, requireTLS bool
	declared         smtp.BodyType
	mailDSN          dsnMail
	rcptDSN          []dsnRcpt
	opt              mailOptions // FUTURERELEASE and MT-PRIORITY, granted
}

func (s *session) envelope() envelope {
	s.mu.Lock()
	defer s.mu.Unlock()
	return envelope{from: s.from, user: s.user, helo: s.helo, rcpts: slices.Clone(s.rcpts),
		utf8: s.utf8, requireTLS: s.requireTLS, declared: s.body,
		mailDSN: s.dsn, rcptDSN: slices.Clone(s.rdsn), opt: s.opt}
}

// message builds the spool record of e for the body d holds, every
// recipient queued for now, or for the time FUTURERELEASE asked.
func (s *session) message(e *envelope, id string, d *draft, now time.Time) *store.Message {
	m := &store.Message{
		ID:         id,
		From:       e.from,
		Recipients: make([]store.Recipient, len(e.rcpts)),
		Size:       d.w.n,
		Received:   now,
		Client:     s.client,
		User:       e.user,
		SMTPUTF8:   e.utf8,
		BodyType:   d.bodyType(),
		Priority:   e.opt.lane,
		// FUTURERELEASE: the recipients wait in the due index until then.
		DeliverAfter: e.opt.holdUntil,
	}
	for i, rc := range e.rcpts {
		m.Recipients[i] = store.Recipient{Addr: rc, State: store.StateQueued, NextAttempt: m.Start()}
	}
	applyDSN(m, e.mailDSN, e.rcptDSN)
	return m
}

// commit makes m durable with body b: with its idempotency record when
// the client sent a key (enqueueOnce), plainly otherwise. A nil error is
// a fresh commit; any other is the reply.
func (s *session) commit(e *envelope, m *store.Message, b *store.Body, idemKey string) error {
	if idemKey != "" {
		return s.enqueueOnce(m, b, e.user, idempotencyScope(e.user, idemKey), envelopeHash(e.from, e.rcpts))
	}
	err := s.srv.opts.Spool.Enqueue(s.srv.ctx, m, b)
	s.srv.spooled(err)
	if err != nil {
		return s.storageFailed("enqueue", err, "msgid", m.ID)
	}
	return nil
}

// enqueueOnce commits m with its idempotency record (store.EnqueueOnce)
// and returns nil, as a fresh commit. When the key was used within the
// retention, nothing is stored and the reply is the first submission's 250
// with its queue ID, or a refusal when the key came with another
// envelope; the caller's deferred cleanup discards the body.
func (s *session) enqueueOnce(m *store.Message, b *store.Body, user, key string, request [32]byte) error {
	opts := &s.srv.opts
	rec := &store.Idempotency{Key: key, Request: request, Response: []byte(m.ID), Created: m.Received}
	prior, err := opts.Spool.EnqueueOnce(s.srv.ctx, m, b, rec, m.Received.Add(-opts.IdempotencyRetention))
	switch {
	case err != nil:
		s.srv.spooled(err)
		return s.storageFailed("enqueue", err, "msgid", m.ID)
	case prior == nil:
		s.srv.spooled(nil)
		return nil
	case prior.Request != request:
		return s.reject("data", replyIdempotencyConflict, "msgid", m.ID)
	}
	first := string(prior.Response)
	s.srv.log.Info("idempotent retry", "msgid", first, "client", s.client, "user", user)
	return replyQueued(first)
}

// readHead reads the header block of message id and applies the header
// rules: its size, the X-Outbox-At-Least-One field (taken out), long lines
// folded, and the From check of user's sender rule. Its error is the reply.
func (s *session) readHead(br *bufio.Reader, user, id string) (h header, atLeastOne *bool, err error) {
	h, err = readHeader(br, s.srv.opts.MaxHeaderSize)
	if errors.Is(err, errHeaderTooBig) {
		return h, nil, s.reject("data", replyHeaderTooBig, "msgid", id)
	}
	if err != nil {
		return h, nil, s.readFailed(id, err)
	}
	if atLeastOne, err = h.takeAtLeastOne(); err != nil {
		return h, nil, s.reject("data", replyBadHeader(err.Error()), "msgid", id)
	}
	if !h.foldLongLines() {
		return h, nil, s.reject("data", replyLongHeaderLine, "msgid", id)
	}
	if err := s.checkFromHeader(user, h.value("From"), id); err != nil {
		return h, nil, err
	}
	return h, atLeastOne, nil
}

// spooled tells the Waker and the Observer of a commit's result.
func (srv *Server) spooled(err error) {
	if w := srv.opts.Waker; w != nil {
		w.Spooled(err)
	}
	if o := srv.opts.Observer; o != nil && err == nil {
		o.Accepted()
	}
}

// readFailed turns an error reading the client's data into a reply: our
// own checks and go-smtp's size limit are already replies.
func (s *session) readFailed(id string, err error) error {
	var reply *smtp.SMTPError
	switch {
	case errors.As(err, &reply):
	case errors.Is(err, smtp.ErrTooLongLine):
		reply = replyLineTooLong
	default:
		reply = replyReadFailed
	}
	return s.reject("data", reply, "msgid", id, "error", err)
}

// storageFailed logs a spool error in full and gives the client only a
// temporary, generic reply.
func (s *session) storageFailed(op string, err error, attrs ...any) error {
	reply := storageReply(err)
	args := append([]any{"stage", "data", "op", op, "client", s.client, "code", reply.Code,
		"error", err}, attrs...)
	s.srv.log.Error("spool failure", args...)
	return reply
}

// bodyWriter counts what reaches the spool and remembers the first write
// error, so that a storage failure is told apart from a client read error
// during io.Copy.
type bodyWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (b *bodyWriter) Write(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.w.Write(p)
	b.n += int64(n)
	b.err = err
	return n, err
}

// bufReader is a buffered reader of r, reused from an earlier message.
func (srv *Server) bufReader(r io.Reader) *bufio.Reader {
	if br, ok := srv.readers.Get().(*bufio.Reader); ok {
		br.Reset(r)
		return br
	}
	return bufio.NewReader(r)
}

// putReader gives br back for another message; br must not be used after.
func (srv *Server) putReader(br *bufio.Reader) {
	br.Reset(nil)
	srv.readers.Put(br)
}
