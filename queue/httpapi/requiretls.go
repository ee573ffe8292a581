package httpapi

import (
	"bufio"
	"bytes"
	"net/textproto"
	"strings"

	"github.com/outbox-mta/outbox/store"
)

// tlsRequirement is the stored TLS requirement of a message built from a
// request: "require_tls" (REQUIRETLS, RFC 8689), else a "TLS-Required: No"
// field in its header block (§5; given in "headers" or in a raw message).
// With REQUIRETLS the field is ignored (§4.1).
func tlsRequirement(requireTLS bool, msg []byte) store.TLSReq {
	if requireTLS {
		return store.TLSReqRequire
	}
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(msg))).ReadMIMEHeader()
	if err != nil && h == nil {
		return store.TLSReqNone
	}
	if strings.EqualFold(strings.TrimSpace(h.Get("TLS-Required")), "no") {
		return store.TLSReqOptional
	}
	return store.TLSReqNone
}
