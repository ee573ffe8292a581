package submission

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

// composer makes what the listener writes before the rest of the client's
// data — its Received field, the client's header fields, and Date and
// Message-ID when missing — and starts the DKIM signing of the message.
// Both take the queue ID as an argument: a re-encoded message is stored
// under a new one (see conform), which its fields must name.
type composer struct {
	h      *header
	trace  traceInfo // its id is set per call
	now    time.Time
	signer Signer // nil: no signing
}

// head is the listener's part of the message for queue ID id.
func (c *composer) head(id string) []byte {
	trace := c.trace
	trace.id = id
	extra := missingFields(c.h, id, trace.hostname, c.now)
	var b bytes.Buffer
	b.WriteString(trace.received())
	_ = c.h.writeTo(&b, extra)
	b.WriteString(headerOnlyEnd(c.h, extra))
	return b.Bytes()
}

// sign starts signing a message with the header fields of head plus those
// named in more (fields a conversion adds). nil, nil: unsigned.
func (c *composer) sign(more ...string) (Signing, error) {
	if c.signer == nil {
		return nil, nil
	}
	// The names do not depend on the ID, only on which fields are added.
	names := append(c.h.names(missingFields(c.h, "", c.trace.hostname, c.now)), more...)
	return c.signer.Sign(c.h.value("From"), names)
}

// maxLoggedMessageID bounds the Message-ID written to the log: the field
// is the client's, and only the header size limit bounds it.
const maxLoggedMessageID = 256

// messageID is the message's Message-ID for the acceptance log line and
// the event log (store.Message.MessageID): the client's (RFC 5322
// §3.6.4), else the one missingFields adds for id.
func messageID(h *header, id, hostname string) string {
	if !h.has("Message-ID") {
		return fmt.Sprintf("<%s@%s>", id, hostname)
	}
	v := strings.TrimSpace(h.value("Message-ID"))
	if len(v) > maxLoggedMessageID {
		v = strings.ToValidUTF8(v[:maxLoggedMessageID], "") + "..."
	}
	return v
}

// missingFields are the header fields the listener adds for queue ID id
// when the client left them out (RFC 6409 §8.1-8.3).
func missingFields(h *header, id, hostname string, now time.Time) []string {
	var extra []string
	if !h.has("Date") {
		extra = append(extra, "Date: "+now.Format(time.RFC1123Z)+"\r\n")
	}
	if !h.has("Message-ID") {
		extra = append(extra, fmt.Sprintf("Message-ID: <%s@%s>\r\n", id, hostname))
	}
	return extra
}
