package submission

import (
	"crypto/sha256"
	"errors"
	"strings"
)

// idempotencyHeader carries a client's idempotency key: a client that
// resubmits a message after losing our 250 (RFC 5321 §6.1's duplicate
// window, seen from the client) gets the first submission's queue ID and
// no second message. A header field, as X-Outbox-At-Least-One, because
// go-smtp refuses unknown MAIL parameters; the listener removes it before
// the message is stored or signed.
const idempotencyHeader = "Outbox-Idempotency-Key"

// maxIdempotencyKey bounds the key, as the HTTP API's Idempotency-Key.
const maxIdempotencyKey = 255

// takeIdempotencyKey removes every Outbox-Idempotency-Key field from h and
// returns the key: "" when absent. A key that is not 1 to 255 printable
// ASCII characters, or two different keys, is an error for the client.
func (h *header) takeIdempotencyKey() (string, error) {
	var key string
	kept := h.fields[:0]
	for _, f := range h.fields {
		if !strings.EqualFold(f.name, idempotencyHeader) {
			kept = append(kept, f)
			continue
		}
		v := f.value()
		if v == "" || len(v) > maxIdempotencyKey || strings.IndexFunc(v, func(c rune) bool { return c < 0x21 || c > 0x7e }) >= 0 {
			return "", errors.New(idempotencyHeader + " must be 1 to 255 printable ASCII characters")
		}
		if key != "" && key != v {
			return "", errors.New("conflicting " + idempotencyHeader + " fields")
		}
		key = v
	}
	clear(h.fields[len(kept):])
	h.fields = kept
	return key, nil
}

// idempotencyScope is the namespace of a session's keys: the
// authenticated user, or, for a client trusted by its network, all such
// clients together, as the HTTP API scopes keys to one API key or to the
// trusted loopback. "smtp" keeps them apart from the API's keys.
func idempotencyScope(user, key string) string {
	if user == "" {
		return "smtp-trusted\x00" + key
	}
	return "smtp-user:" + user + "\x00" + key
}

// envelopeHash identifies a submission for its key: the same key with
// another envelope is a client error, not a retry. The body is left out:
// a client regenerating Date or Message-ID on resubmission still retries
// the same message.
func envelopeHash(from string, rcpts []string) [32]byte {
	h := sha256.New()
	h.Write([]byte(from))
	for _, r := range rcpts {
		h.Write([]byte{0})
		h.Write([]byte(r))
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}
