package httpapi

import (
	"bufio"
	"bytes"
	"net/textproto"
	"strings"
)

// maxMessageID bounds the Message-ID kept for the event log: a raw
// message's field is the client's, bounded only by the header size.
const maxMessageID = 256

// messageIDOf is the Message-ID field of the message msg (RFC 5322
// §3.6.4), unfolded and trimmed; "" when it has none.
func messageIDOf(msg []byte) string {
	hdr, _ := textproto.NewReader(bufio.NewReader(bytes.NewReader(msg))).ReadMIMEHeader()
	v := strings.TrimSpace(hdr.Get("Message-Id"))
	if len(v) > maxMessageID {
		v = strings.ToValidUTF8(v[:maxMessageID], "") + "..."
	}
	return v
}
