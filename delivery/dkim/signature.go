package dkim

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
)

// signature makes one key's DKIM-Signature field (RFC 6376 §3.5) over the
// body hash bh and the header fields signed (in h= order, picked): the
// header hash covers those fields and then the signature field itself
// with an empty b= and no final CRLF (§3.7), all in the relaxed form.
func (s *Signing) signature(key Key, alg, bh string, signed []string) (string, error) {
	tags := [][2]string{
		{"a", alg + "-sha256"},
		{"bh", bh},
		{"c", "relaxed/relaxed"},
		{"d", s.domain},
		{"h", strings.Join(s.hkeys, ":")},
		{"s", key.Selector},
		{"t", strconv.FormatInt(s.now.Unix(), 10)},
		{"v", "1"},
	}
	if !s.expiry.IsZero() {
		tags = append(tags, [2]string{"x", strconv.FormatInt(s.expiry.Unix(), 10)})
	}
	h := sha256.New()
	for _, f := range signed {
		h.Write([]byte(relaxedHeader(f)))
	}
	h.Write([]byte(strings.TrimSuffix(relaxedHeader(formatSignature(tags, "")), "\r\n")))
	hash := crypto.SHA256
	if alg == "ed25519" {
		hash = 0 // RFC 8463 §3: Ed25519 signs the SHA-256 hash itself
	}
	sig, err := key.Signer.Sign(rand.Reader, h.Sum(nil), hash)
	if err != nil {
		return "", err
	}
	return formatSignature(tags, base64.StdEncoding.EncodeToString(sig)), nil
}

// formatSignature writes the field: the tags in order, folded before a tag
// that would pass 75 columns, then b= on lines of its own, folded every
// 75 octets (RFC 6376 §3.2 allows folding whitespace anywhere in a
// base64 value), and the final CRLF.
func formatSignature(tags [][2]string, b string) string {
	var f strings.Builder
	f.WriteString("DKIM-Signature:")
	line := 0
	for _, t := range tags {
		if 3+line+len(t[0])+len(t[1]) > 75 && line > 0 {
			f.WriteString("\r\n")
			line = 0
		}
		f.WriteString(" " + t[0] + "=" + t[1] + ";")
		line += 3 + len(t[0]) + len(t[1])
	}
	f.WriteString("\r\n")
	v := " b=" + b
	for i := 0; i < len(v); i += 75 {
		if i > 0 {
			f.WriteString("\r\n ")
		}
		f.WriteString(v[i:min(i+75, len(v))])
	}
	f.WriteString("\r\n")
	return f.String()
}
