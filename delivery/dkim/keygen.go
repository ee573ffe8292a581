package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
)

// Key types for GenerateKey.
const (
	TypeEd25519 = "ed25519"
	TypeRSA     = "rsa"
)

// DefaultRSABits is the RSA key size GenerateKey uses when given 0
// (RFC 8301 §3.2: signers SHOULD use at least 2048 bits).
const DefaultRSABits = 2048

// GenerateKey makes a new private key of type TypeEd25519 or TypeRSA
// (bits 0 means DefaultRSABits; under 2048 is refused).
func GenerateKey(typ string, bits int) (crypto.Signer, error) {
	switch typ {
	case TypeEd25519:
		if bits != 0 {
			return nil, errors.New("dkim: Ed25519 keys have no size to choose")
		}
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	case TypeRSA:
		if bits == 0 {
			bits = DefaultRSABits
		}
		if bits < 2048 || bits > 8192 {
			return nil, fmt.Errorf("dkim: RSA key size %d: use 2048 to 8192 bits", bits)
		}
		return rsa.GenerateKey(rand.Reader, bits)
	}
	return nil, fmt.Errorf("dkim: key type %q: use %q or %q", typ, TypeEd25519, TypeRSA)
}

// MarshalKey encodes a private key as a PKCS #8 PEM block ("PRIVATE KEY"),
// the format the configuration's key_file reads (as do OpenSSL and
// OpenDKIM).
func MarshalKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("dkim: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// RecordName is the DNS name of a selector's key record (RFC 6376 §3.6.2.1).
func RecordName(selector, domain string) string {
	return selector + "._domainkey." + domain
}

// Record returns the TXT record value publishing pub's public key
// (RFC 6376 §3.6.1; RFC 8463 §4.2 for Ed25519, whose p= is the raw 32-byte
// key rather than a SubjectPublicKeyInfo).
func Record(pub crypto.PublicKey) (string, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(p)
		if err != nil {
			return "", fmt.Errorf("dkim: marshal public key: %w", err)
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(p), nil
	}
	return "", fmt.Errorf("dkim: unsupported public key type %T", pub)
}

// SplitTXT cuts a record value into the strings of one TXT record: a
// character-string holds at most 255 bytes (RFC 1035 §3.3); verifiers
// concatenate them (RFC 6376 §3.6.2.2).
func SplitTXT(v string) []string {
	var out []string
	for len(v) > 255 {
		out = append(out, v[:255])
		v = v[255:]
	}
	return append(out, v)
}
