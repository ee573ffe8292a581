package httpapi

import (
	"strings"

	"github.com/outbox-mta/outbox/store"
)

// tlsRequirement is the stored TLS requirement of a message built from a
// request: "require_tls" (REQUIRETLS, RFC 8689), else a "TLS-Required: No"
// field in its header block (§5; given in "headers" or in a raw message),
// whose value is field. With REQUIRETLS the field is ignored (§4.1).
func tlsRequirement(requireTLS bool, field string) store.TLSReq {
	switch {
	case requireTLS:
		return store.TLSReqRequire
	case strings.EqualFold(strings.TrimSpace(field), "no"):
		return store.TLSReqOptional
	}
	return store.TLSReqNone
}
