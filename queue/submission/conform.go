package submission

import (
	"bytes"
	"errors"
	"io"

	"github.com/emersion/go-smtp"

	"github.com/outbox-mta/outbox/delivery/sevenbit"
	"github.com/outbox-mta/outbox/store"
)

// Replies for messages that cannot be made to meet the line limit.
var (
	replyLongHeaderLine = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
		Message: "Header line longer than 998 octets with no white space to fold it at (RFC 5322 2.1.1)"}
	replyLongLineMalformed = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
		Message: "Line longer than 998 octets in a message whose MIME structure cannot be re-encoded"}
)

// draft is a message being written to one spool body: every byte goes to
// the body, to the DKIM signing (when the message is signed) and to a
// sevenbit.Scanner, which tells at the end whether the message must be
// re-encoded (see conform).
type draft struct {
	body *store.Body
	sig  Signing // nil: unsigned
	scan sevenbit.Scanner
	w    bodyWriter
}

// newDraft starts a draft on body, signed as c says, the signature also
// listing the fields named in more.
func newDraft(body *store.Body, c *composer, more ...string) (*draft, error) {
	d := &draft{body: body}
	sig, err := c.sign(more...)
	if err != nil {
		return nil, err
	}
	ws := []io.Writer{body, &d.scan}
	if sig != nil {
		d.sig = sig
		ws = append(ws, sig)
	}
	d.w.w = io.MultiWriter(ws...)
	return d, nil
}

// fill writes head, then the rest of the client's data. The error is the
// client's (a read error or one of our checks); a storage error is kept in
// d.w.err instead.
func (d *draft) fill(head []byte, rest io.Reader) error {
	if _, _ = d.w.Write(head); d.w.err != nil {
		return nil
	}
	if _, err := io.Copy(&d.w, rest); err != nil && d.w.err == nil {
		return err
	}
	return nil
}

// release abandons a draft that will not be enqueued.
func (d *draft) release() {
	if d.sig != nil {
		d.sig.Abort() // a no-op after Finish
	}
	_ = d.body.Discard()
}

// bodyType is what the stored body holds (RFC 6152): whatever BODY= the
// client declared, 8-bit octets need 8BITMIME or a 7-bit form downstream.
func (d *draft) bodyType() store.BodyType {
	if d.scan.Report().EightBit() {
		return store.Body8BitMIME
	}
	return store.Body7Bit
}

// conform makes every accepted message fit for any next hop without
// breaking its DKIM signature, and returns the draft to enqueue: d itself,
// or a new draft holding the 7-bit form (d is then released).
//
//   - Header lines over 998 octets were folded already (foldLongLines);
//     one that remains (a MIME part's header) is refused: no transfer
//     encoding applies to header fields.
//   - Body lines over 998 octets (RFC 5322 §2.1.1) are re-encoded.
//   - An 8-bit body of a message that is signed is re-encoded too, before
//     signing, so every copy carries the signed bytes: a 7-bit form made
//     later, for a server without 8BITMIME, would not verify. An unsigned
//     8-bit message stays 8-bit; delivery converts it only when needed.
//
// The new draft's signature also lists the MIME fields the message lacks:
// the conversion adds them to a message without MIME, and an h= entry for
// a field that turns out absent still verifies (RFC 6376 §5.4).
//
// The new draft has a new queue ID, which its Received and Message-ID
// fields must name: the old draft's head (c.head) is replaced while the
// rest is read back from its body. Errors are replies for the client.
func (s *session) conform(d *draft, c *composer) (*draft, error) {
	r := d.scan.Report()
	id := d.body.ID()
	switch {
	case r.LongHeaderLine:
		return nil, s.reject("data", replyLongHeaderLine, "msgid", id)
	case !r.NeedsConvert() || (d.sig == nil && !r.LongBodyLine):
		return d, nil
	}
	nb, err := s.srv.opts.Spool.NewBody()
	if err != nil {
		return nil, s.storageFailed("new body", err, "msgid", id)
	}
	nd, err := newDraft(nb, c, c.h.lacking("MIME-Version", "Content-Type", "Content-Transfer-Encoding")...)
	if err != nil {
		_ = nb.Discard()
		return nil, s.storageFailed("dkim sign", err, "msgid", nb.ID())
	}
	skip, newHead := int64(len(c.head(id))), c.head(nb.ID())
	open := func() (io.ReadCloser, error) {
		rc, err := d.body.Open()
		if err != nil {
			return nil, err
		}
		if _, err := io.CopyN(io.Discard, rc, skip); err != nil {
			rc.Close()
			return nil, err
		}
		return readCloser{io.MultiReader(bytes.NewReader(newHead), rc), rc}, nil
	}
	_, err = sevenbit.Convert(&nd.w, open)
	switch {
	case err == nil:
		d.release()
		s.srv.log.Info("re-encoded to 7-bit", "msgid", nb.ID(), "replaces", id,
			"long_lines", r.LongBodyLine, "eight_bit", r.BodyEightBit)
		return nd, nil
	case nd.w.err != nil:
		nd.release()
		return nil, s.storageFailed("write body", nd.w.err, "msgid", nb.ID())
	case errors.Is(err, sevenbit.ErrLongHeaderLine):
		nd.release()
		return nil, s.reject("data", replyLongHeaderLine, "msgid", id, "error", err)
	case errors.Is(err, sevenbit.ErrMalformed) && !r.LongBodyLine:
		// Signed as it is; a server without 8BITMIME will get 8-bit octets
		// (delivery cannot convert it either), as before.
		nd.release()
		s.srv.log.Warn("8-bit message left as it is", "msgid", id, "error", err)
		return d, nil
	case errors.Is(err, sevenbit.ErrMalformed):
		nd.release()
		return nil, s.reject("data", replyLongLineMalformed, "msgid", id, "error", err)
	default:
		nd.release()
		return nil, s.storageFailed("re-encode", err, "msgid", id)
	}
}

// lacking returns those of names that h has no field for.
func (h *header) lacking(names ...string) []string {
	var out []string
	for _, n := range names {
		if !h.has(n) {
			out = append(out, n)
		}
	}
	return out
}

type readCloser struct {
	io.Reader
	io.Closer
}

// headerOnlyEnd completes a message of header fields only (RFC 5322 §2.1:
// the body is optional): the empty line that ends the header, after the
// line end of the last field if it had none. Stored with the separator,
// the message is the same one with an empty body, which DKIM signs and
// verifies like any other (RFC 6376 §3.4.3, §3.4.4: the empty body);
// without it no signer or verifier can find where the header ends.
func headerOnlyEnd(h *header, extra []string) string {
	if h.blank || h.first != nil {
		return ""
	}
	if len(extra) == 0 && len(h.fields) > 0 && !bytes.HasSuffix(h.fields[len(h.fields)-1].raw, []byte("\n")) {
		return "\r\n\r\n"
	}
	return "\r\n"
}

// bodyAttr names a body type in logs as RFC 6152's BODY= values do.
func bodyAttr(t store.BodyType) string {
	if t == store.Body8BitMIME {
		return "8BITMIME"
	}
	return "7BIT"
}

// foldLongLines folds every header line over 998 octets (RFC 5322 §2.1.1)
// at its last space or tab within the limit (§2.2.3: folding inserts a
// CRLF before white space, and unfolding, which DKIM's relaxed
// canonicalization does too, restores the field). A line with no such
// place cannot be folded: false, and the message is refused.
func (h *header) foldLongLines() bool {
	for i := range h.fields {
		f := &h.fields[i]
		if !hasLongLine(f.raw) {
			continue
		}
		var out []byte
		for line := range bytes.SplitAfterSeq(f.raw, []byte("\n")) {
			for len(bytes.TrimRight(line, "\r\n")) > sevenbit.MaxLine {
				cut := lastFoldPoint(line[:sevenbit.MaxLine+1])
				if cut < 0 {
					return false
				}
				out = append(append(out, line[:cut]...), "\r\n"...)
				line = line[cut:]
			}
			out = append(out, line...)
		}
		f.raw = out
	}
	return true
}

func hasLongLine(raw []byte) bool {
	for line := range bytes.SplitSeq(raw, []byte("\n")) {
		if len(bytes.TrimRight(line, "\r")) > sevenbit.MaxLine {
			return true
		}
	}
	return false
}

// lastFoldPoint is the index of the last space or tab in b that has
// something other than white space before it, or -1.
func lastFoldPoint(b []byte) int {
	for i := len(b) - 1; i > 0; i-- {
		if (b[i] == ' ' || b[i] == '\t') && len(bytes.TrimLeft(b[:i], " \t")) > 0 {
			return i
		}
	}
	return -1
}
