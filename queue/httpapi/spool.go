package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// Spool is what the API needs from storage: a body to stream the message
// into, and the durable commit. Enqueue returning nil means the message is
// on disk (fsynced); only then does the client get its 202. *store.DB
// and *pgstore.DB satisfy it (cmd/outbox checks both).
type Spool interface {
	NewBody() (*store.Body, error)
	Enqueue(ctx context.Context, m *store.Message, b *store.Body) error
	// EnqueueOnce is Enqueue with an idempotency record in the same
	// transaction; a record created after since is returned instead, and
	// nothing is stored.
	EnqueueOnce(ctx context.Context, m *store.Message, b *store.Body, rec *store.Idempotency, since time.Time) (*store.Idempotency, error)
}

var _ Spool = (*store.DB)(nil)

// Signer signs accepted messages (DKIM; cmd adapts delivery/dkim to it,
// the same keys the SMTP listener signs with). Sign starts signing a
// message whose From field has the value from and whose header has the
// fields named in fields, once per occurrence. nil, nil: unsigned.
type Signer interface {
	Sign(from string, fields []string) (Signing, error)
}

// Signing receives the message exactly as it is written to the spool.
// Finish returns the header fields to store in front of it
// (store.Message.Prefix) and labels for operators; Abort releases a
// Signing whose message is not accepted.
type Signing interface {
	io.Writer
	Finish() (prefix []byte, labels []string, err error)
	Abort()
}

// Waker is told of every commit the API makes, with Enqueue's error, so
// the scheduler attempts a fresh message at once. It must not block.
// *queue.Queue satisfies it.
type Waker interface {
	Spooled(err error)
}

// errTooBig marks a built message over Options.MaxMessageSize.
var errTooBig = errors.New("message too big")

// limitWriter fails once more than n bytes are written.
type limitWriter struct {
	w io.Writer
	n int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.n {
		return 0, errTooBig
	}
	l.n -= int64(len(p))
	return l.w.Write(p)
}

// accepted is the answer to one committed message: the 202 body, or,
// for a retry, the first request's record.
type accepted struct {
	ID       string
	Response []byte             // the 202 body
	Prior    *store.Idempotency // non-nil: a retry; nothing was stored
}

// idemKey is a request's idempotency key with its scope and request hash.
type idemKey struct {
	key     string // the client's identity and its key
	request [32]byte
}

// spool builds the message, signs it when a key covers its From domain,
// and commits it; on any error the body is discarded, so nothing of a
// refused request stays.
func (s *Server) spool(ctx context.Context, req *sendRequest, p *parsed, remote, who string, idem *idemKey) (acc *accepted, err error) {
	b, err := s.opts.Spool.NewBody()
	if err != nil {
		return nil, err
	}
	committed := false
	defer func() {
		if !committed {
			b.Discard()
		}
	}()
	now := s.opts.Now()
	// The message is built in memory, as big as the request that carried
	// it, so that its header is known before signing starts; the buffer
	// goes back to the pool once the body has the message.
	bld := s.pools.getBuild(int(min(req.sizeHint(), s.opts.MaxMessageSize)))
	defer s.pools.putBuild(bld)
	msg := &bld.msg
	facts, err := s.write(&limitWriter{w: msg, n: s.opts.MaxMessageSize}, req, p, b.ID(), remote, now, bld.chunk[:])
	if err != nil {
		return nil, err
	}
	m := &store.Message{
		From:       p.mailFrom,
		Recipients: make([]store.Recipient, len(p.rcpts)),
		Received:   now,
		Client:     remote,
		User:       who,
		// 7-bit: built messages have 7bit, quoted-printable or base64 parts,
		// raw ones are re-encoded (sevenBit).
		BodyType:   store.Body7Bit,
		AtLeastOne: req.AtLeastOne,
		MessageID:  messageIDOf(facts.messageID),
	}
	if o := p.opts; o != nil {
		m.DeliverAfter, m.ExpireAt, m.Tags, m.Metadata = o.deliverAfter, o.expireAt, o.tags, o.metadata
		m.Priority = o.priority
	}
	m.IgnoreSuppressions = req.IgnoreSuppressions || clientKeyOf(ctx).IgnoreSuppressions
	m.TLSReq = tlsRequirement(req.RequireTLS, facts.tlsRequired)
	if m.Prefix, m.Signed, err = s.store(b, msg.Bytes()); err != nil {
		return nil, err
	}
	for i, rc := range p.rcpts {
		// A scheduled message waits in the due index until its time.
		m.Recipients[i] = store.Recipient{Addr: rc, State: store.StateQueued, NextAttempt: m.Start()}
	}
	acc = &accepted{ID: b.ID(), Response: response(b.ID(), m.Recipients)}
	if idem == nil {
		err = s.opts.Spool.Enqueue(ctx, m, b)
	} else {
		rec := &store.Idempotency{Key: idem.key, Request: idem.request, Response: acc.Response, Created: now}
		acc.Prior, err = s.opts.Spool.EnqueueOnce(ctx, m, b, rec, now.Add(-s.opts.IdempotencyRetention))
	}
	if acc.Prior != nil {
		return acc, nil // nothing stored: the deferred Discard frees the body
	}
	if s.opts.Waker != nil {
		s.opts.Waker.Spooled(err)
	}
	if err != nil {
		return nil, err
	}
	committed = true
	return acc, nil
}

// response is the 202 body for a message with id and recipients.
func response(id string, rcpts []store.Recipient) []byte {
	resp := sendResponse{ID: id, Recipients: make([]rcptResponse, len(rcpts))}
	for i, rc := range rcpts {
		resp.Recipients[i] = rcptResponse{Address: rc.Addr, State: rc.State.String()}
	}
	b, _ := json.Marshal(resp) // strings only: cannot fail
	return append(b, '\n')
}

// store writes msg to the body, through a DKIM Signing when Options.Signer
// signs for its From domain, so the signature covers exactly the stored
// bytes, as the SMTP listener's do.
func (s *Server) store(b io.Writer, msg []byte) (prefix []byte, labels []string, err error) {
	var sig Signing
	if s.opts.Signer != nil {
		from, fields := headerFields(msg)
		if sig, err = s.opts.Signer.Sign(from, fields); err != nil {
			return nil, nil, fmt.Errorf("dkim sign: %w", err)
		}
	}
	if sig == nil {
		_, err = b.Write(msg)
		return nil, nil, err
	}
	if _, err := io.MultiWriter(b, sig).Write(msg); err != nil {
		sig.Abort()
		return nil, nil, err
	}
	if prefix, labels, err = sig.Finish(); err != nil {
		return nil, nil, fmt.Errorf("dkim sign: %w", err)
	}
	return prefix, labels, nil
}

// headerFields returns the unfolded From value and the name of every
// header field of msg, once per occurrence.
func headerFields(msg []byte) (from string, names []string) {
	head, _, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	var cur *string
	for _, line := range strings.Split(string(head), "\r\n") {
		if line != "" && (line[0] == ' ' || line[0] == '\t') {
			if cur != nil {
				*cur += line
			}
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		names = append(names, name)
		cur = nil
		if strings.EqualFold(name, "From") && from == "" {
			from = strings.TrimSpace(value)
			cur = &from
		}
	}
	return from, names
}

// write writes a Received field (RFC 5321 §4.4, here for an HTTP hop),
// then the message, built or raw, with chunk as scratch space, and
// returns the facts of its header.
func (s *Server) write(w io.Writer, req *sendRequest, p *parsed, id, remote string, now time.Time, chunk []byte) (headerFacts, error) {
	// Appended to chunk, which is free until the body is written: the
	// field costs no allocation.
	rcvd := append(chunk[:0], "Received: from ["...)
	rcvd = append(append(append(append(rcvd, hostOf(remote)...), "] by "...), s.opts.Hostname...), " (Outbox) with HTTP id "...)
	rcvd = append(append(rcvd, id...), ";\r\n\t"...)
	rcvd = append(now.AppendFormat(rcvd, time.RFC1123Z), "\r\n"...)
	if _, err := w.Write(rcvd); err != nil {
		return headerFacts{}, err
	}
	if p.raw == nil {
		return req.compose(w, p, id, s.opts.Hostname, now, chunk)
	}
	f, err := addMissing(w, p.raw, id, s.opts.Hostname, now)
	if err != nil {
		return f, err
	}
	_, err = w.Write(p.raw)
	return f, err
}

// sizeHint is about the size of the message req makes: its contents,
// encoded, and room for the header. Growing the buffer once to it saves
// the copies of growing it by doubling.
func (req *sendRequest) sizeHint() int64 {
	n := int64(len(req.Text)+len(req.HTML)+len(req.Raw)) * 21 / 20
	for _, a := range req.Attachments {
		n += int64(len(a.Content)) * 21 / 20 // base64 in, base64 out, with line ends
	}
	return n + 2<<10
}
