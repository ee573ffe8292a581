package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Reasons a published record does not match a key (Check). Every error
// Check returns wraps exactly one of them.
var (
	ErrMissing  = errors.New("no key record published")
	ErrSyntax   = errors.New("key record syntax error")
	ErrRevoked  = errors.New("key revoked (empty p=)")
	ErrWrongKey = errors.New("published key differs from the configured key")
)

// Check compares the TXT records found at a selector's name (each already
// the concatenation of its strings) with the public key of a configured
// private key.
func Check(txts []string, pub crypto.PublicKey) error {
	switch len(txts) {
	case 0:
		return ErrMissing
	case 1:
	default:
		// RFC 6376 §3.6.2.2: the result of several records is undefined;
		// go-msgauth's verifier rejects it.
		return fmt.Errorf("%w: %d TXT records, want one", ErrSyntax, len(txts))
	}
	tags, err := parseTags(txts[0])
	if err != nil {
		return err
	}
	if v, ok := tags["v"]; ok && v != "DKIM1" {
		return fmt.Errorf("%w: v=%s, want DKIM1", ErrSyntax, v)
	}
	p, ok := tags["p"]
	if !ok {
		return fmt.Errorf("%w: no p= tag", ErrSyntax)
	}
	p = strings.Join(strings.Fields(p), "")
	if p == "" {
		return ErrRevoked
	}
	der, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		return fmt.Errorf("%w: p= is not base64: %v", ErrSyntax, err)
	}
	k := tags["k"]
	if k == "" {
		k = "rsa" // RFC 6376 §3.6.1: the default
	}
	var published crypto.PublicKey
	switch k {
	case "rsa":
		published, err = x509.ParsePKIXPublicKey(der)
		if err != nil {
			// RFC 6376 erratum 3017: some publish a bare RSAPublicKey.
			if published, err = x509.ParsePKCS1PublicKey(der); err != nil {
				return fmt.Errorf("%w: p= is not an RSA public key", ErrSyntax)
			}
		}
	case "ed25519":
		if len(der) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: p= holds %d bytes, an Ed25519 key has %d", ErrSyntax, len(der), ed25519.PublicKeySize)
		}
		published = ed25519.PublicKey(der)
	default:
		return fmt.Errorf("%w: unknown key type k=%s", ErrSyntax, k)
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	want, ok := pub.(equaler)
	if !ok {
		return fmt.Errorf("dkim: unsupported public key type %T", pub)
	}
	if !want.Equal(published) {
		return fmt.Errorf("%w (published %s, configured %s)", ErrWrongKey, describe(published), describe(pub))
	}
	return nil
}

// describe names a public key for a mismatch message.
func describe(pub crypto.PublicKey) string {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d bits", p.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519 " + base64.StdEncoding.EncodeToString(p)[:8] + "..."
	}
	return fmt.Sprintf("%T", pub)
}

// parseTags parses a tag-list (RFC 6376 §3.2): tag=value pairs separated
// by semicolons, whitespace around them ignored, each tag at most once.
func parseTags(s string) (map[string]string, error) {
	tags := map[string]string{}
	for part := range strings.SplitSeq(s, ";") {
		if strings.TrimSpace(part) == "" {
			continue // a trailing ";" is allowed
		}
		name, value, ok := strings.Cut(part, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("%w: %q is not tag=value", ErrSyntax, strings.TrimSpace(part))
		}
		if _, dup := tags[name]; dup {
			return nil, fmt.Errorf("%w: tag %s appears twice", ErrSyntax, name)
		}
		tags[name] = strings.TrimSpace(value)
	}
	return tags, nil
}
