package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"golang.org/x/net/idna"
)

// DefaultHeaders are the header fields signed when a domain configures none
// (RFC 6376 §5.4.1's recommendations, plus the one-click unsubscribe fields
// of RFC 8058 that receivers require to be signed).
var DefaultHeaders = []string{
	"From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To",
	"In-Reply-To", "References", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding", "List-Unsubscribe", "List-Unsubscribe-Post",
}

// Key is one signing key of a domain.
type Key struct {
	// Selector is the s= tag: the key's record is at
	// Selector._domainkey.Domain.
	Selector string
	// Signer is an *rsa.PrivateKey or an ed25519.PrivateKey.
	Signer crypto.Signer
}

// Domain is a signing domain with its keys.
type Domain struct {
	// Name is the d= tag, a domain name (UTF-8 names are converted to
	// A-labels).
	Name string
	// Keys give one signature each, in order. At least one.
	Keys []Key
	// Headers are the fields to sign when present; nil means
	// DefaultHeaders. From is always signed, and over-signed.
	Headers []string
	// Expiry, when positive, sets x= that long after signing.
	Expiry time.Duration
}

// Keys is an immutable set of signing domains, safe for concurrent use.
type Keys struct {
	domains  map[string]*Domain
	fallback string
	now      func() time.Time
}

// NewKeys checks the domains and returns the set. fallback, when not "",
// must be one of the domains: it signs mail from domains without a key.
// now is the clock for x=; nil means time.Now.
func NewKeys(domains []Domain, fallback string, now func() time.Time) (*Keys, error) {
	if now == nil {
		now = time.Now
	}
	k := &Keys{domains: make(map[string]*Domain, len(domains)), now: now}
	var errs []error
	for _, d := range domains {
		name, err := normalize(d.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := k.domains[name]; dup {
			errs = append(errs, fmt.Errorf("dkim: domain %s listed twice", name))
			continue
		}
		if len(d.Keys) == 0 {
			errs = append(errs, fmt.Errorf("dkim: domain %s has no key", name))
		}
		for _, key := range d.Keys {
			if key.Selector == "" {
				errs = append(errs, fmt.Errorf("dkim: domain %s: a key has no selector", name))
			}
			if _, err := Algorithm(key.Signer); err != nil {
				errs = append(errs, fmt.Errorf("dkim: %s/%s: %w", name, key.Selector, err))
			}
		}
		d.Name = name
		if d.Headers == nil {
			d.Headers = DefaultHeaders
		}
		k.domains[name] = &d
	}
	if fallback != "" {
		name, err := normalize(fallback)
		switch {
		case err != nil:
			errs = append(errs, err)
		case k.domains[name] == nil:
			errs = append(errs, fmt.Errorf("dkim: fallback domain %s has no key", name))
		}
		k.fallback = name
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return k, nil
}

// Algorithm returns the key type as written in k= ("rsa", "ed25519").
func Algorithm(s crypto.Signer) (string, error) {
	if s == nil {
		return "", errors.New("no key")
	}
	switch pub := s.Public().(type) {
	case *rsa.PublicKey:
		// RFC 8301 §3.2: verifiers ignore RSA keys under 1024 bits.
		if pub.N.BitLen() < 1024 {
			return "", fmt.Errorf("RSA key of %d bits: at least 1024 are required (RFC 8301 §3.2)", pub.N.BitLen())
		}
		return "rsa", nil
	case ed25519.PublicKey:
		return "ed25519", nil
	}
	return "", fmt.Errorf("unsupported key type %T (RSA or Ed25519 only)", s.Public())
}

// For returns the domain that signs mail whose From header field has the
// value from, or nil when the message is to leave unsigned.
func (k *Keys) For(from string) *Domain {
	if k == nil {
		return nil
	}
	if name, ok := fromDomain(from); ok {
		// The domain itself, then its parents (relaxed alignment).
		for d := name; ; {
			if dom := k.domains[d]; dom != nil {
				return dom
			}
			_, parent, ok := strings.Cut(d, ".")
			if !ok || !strings.Contains(parent, ".") {
				break // never sign with a top-level domain's key
			}
			d = parent
		}
	}
	if k.fallback != "" {
		return k.domains[k.fallback]
	}
	return nil
}

// fromDomain extracts the normalized domain of the first address of a From
// header value. Unparsable values fall back to the text after the last @,
// so a sloppy From still aligns.
func fromDomain(from string) (string, bool) {
	var addr string
	if list, err := mail.ParseAddressList(from); err == nil && len(list) > 0 {
		addr = list[0].Address
	} else {
		addr = from
		if i := strings.LastIndexByte(addr, '<'); i >= 0 {
			addr = addr[i+1:]
		}
		addr, _, _ = strings.Cut(addr, ">")
	}
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return "", false
	}
	name, err := normalize(strings.TrimSpace(addr[i+1:]))
	return name, err == nil
}

// normalize lower-cases a domain name and converts UTF-8 labels to
// A-labels: d= must be the name as queried in DNS (RFC 6376 §3.5).
func normalize(name string) (string, error) {
	n := strings.TrimSuffix(strings.TrimSpace(name), ".")
	a, err := idna.Lookup.ToASCII(n)
	if err != nil || a == "" || !strings.Contains(a, ".") {
		return "", fmt.Errorf("dkim: %q is not a domain name", name)
	}
	return strings.ToLower(a), nil
}
