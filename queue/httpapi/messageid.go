package httpapi

import "strings"

// maxMessageID bounds the Message-ID kept for the event log: a raw
// message's field is the client's, bounded only by the header size.
const maxMessageID = 256

// headerFacts are what the record keeps of a stored message's header,
// taken as it is written (a built message) or from its one parse (a raw
// message), never by parsing the message again.
type headerFacts struct {
	// messageID is the Message-ID field's value (RFC 5322 §3.6.4),
	// unfolded; the one Outbox added when the message had none.
	messageID string
	// tlsRequired is the TLS-Required field's value (RFC 8689 §5), "" when
	// there is none.
	tlsRequired string
}

// messageIDOf is a Message-ID field's value as the record keeps it:
// trimmed and bounded.
func messageIDOf(v string) string {
	v = strings.TrimSpace(v)
	if len(v) > maxMessageID {
		v = strings.ToValidUTF8(v[:maxMessageID], "") + "..."
	}
	return v
}
