package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Signing follows the Standard Webhooks convention
// (https://www.standardwebhooks.com): each request carries webhook-id,
// webhook-timestamp (Unix seconds) and webhook-signature, which is
// "v1," then the base64 HMAC-SHA256 of "id.timestamp.body" keyed with the
// decoded secret. Receivers verify it with any of the convention's
// libraries. It is a few lines of crypto/hmac; the convention's own Go
// module (v0.0.1, a reference implementation with package-level mutable
// state) does not pay its way for them.

// Header names of the convention.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// secretPrefix starts every secret written out.
const secretPrefix = "whsec_"

// Bounds of a secret's key, in bytes, as the convention recommends.
const (
	minSecretBytes = 24
	maxSecretBytes = 64
)

// ErrBadSecret: a secret is not "whsec_" followed by the base64 of 24 to
// 64 bytes.
var ErrBadSecret = errors.New("webhook: a secret is \"whsec_\" followed by the base64 of 24 to 64 random bytes (make one with: echo whsec_$(openssl rand -base64 32))")

// Secret is an endpoint's signing key. Its String, GoString and LogValue
// never show the key, so it cannot reach a log by accident.
type Secret struct{ key []byte }

// ParseSecret decodes "whsec_<base64>".
func ParseSecret(s string) (Secret, error) {
	b64, ok := strings.CutPrefix(strings.TrimSpace(s), secretPrefix)
	if !ok {
		return Secret{}, ErrBadSecret
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return Secret{}, fmt.Errorf("%w: %w", ErrBadSecret, err)
	}
	if len(key) < minSecretBytes || len(key) > maxSecretBytes {
		return Secret{}, fmt.Errorf("%w: it has %d bytes", ErrBadSecret, len(key))
	}
	return Secret{key: key}, nil
}

// IsZero reports whether s holds no key.
func (s Secret) IsZero() bool { return len(s.key) == 0 }

func (Secret) String() string               { return "whsec_[redacted]" }
func (Secret) GoString() string             { return "webhook.Secret{[redacted]}" }
func (Secret) LogValue() slog.Value         { return slog.StringValue("[redacted]") }
func (Secret) MarshalText() ([]byte, error) { return []byte("whsec_[redacted]"), nil }

// Sign returns the webhook-signature value of a message with id, sent at
// ts, whose body is body.
func (s Secret) Sign(id string, ts time.Time, body []byte) string {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write(strconv.AppendInt(nil, ts.Unix(), 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(h.Sum(nil))
}
