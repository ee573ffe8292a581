package config

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// DKIM configures the signing of outgoing mail (RFC 6376): [dkim] and its
// [[dkim.domain]] entries. Messages are signed once, at acceptance, with
// the keys of the domain of their From header field. Default: no domain,
// nothing is signed.
type DKIM struct {
	// FallbackDomain, when set, signs mail whose From domain (and its
	// parent domains) has no key, with the keys of this domain, which must
	// be one of Domains. Such a signature does not align with the From
	// domain for DMARC. Default: "" (mail from other domains leaves
	// unsigned).
	FallbackDomain string `toml:"fallback_domain"`
	// Domains are the signing domains ([[dkim.domain]]). Default: none.
	Domains []DKIMDomain `toml:"domain"`
}

// DKIMDomain is one signing domain (d=) with its keys.
type DKIMDomain struct {
	// Domain is the signing domain, lower case. It signs mail From this
	// domain and its subdomains that have no entry of their own. Required,
	// unique.
	Domain string `toml:"domain"`
	// Headers are the header fields signed when the message has them; From
	// is required in the list and is always over-signed. Unset (nil): the
	// signer's list, delivery/dkim.DefaultHeaders.
	Headers []string `toml:"headers"`
	// Expiry, when set, makes signatures expire (x=) that long after
	// acceptance. It must be at least delivery.max_lifetime, so that a
	// message retried until it expires still carries a valid signature.
	// Default: 0 (signatures do not expire).
	Expiry Duration `toml:"expiry"`
	// Keys each add one signature ([[dkim.domain.key]]), e.g. an RSA and
	// an Ed25519 key side by side (RFC 8463). At least one.
	Keys []DKIMKey `toml:"key"`
}

// DKIMKey is one selector and its private key.
type DKIMKey struct {
	// Selector is the s= tag; the public key is published in DNS as a TXT
	// record at SELECTOR._domainkey.DOMAIN. Required, unique per domain.
	Selector string `toml:"selector"`
	// KeyFile is the PEM private key: PKCS #8 ("PRIVATE KEY", as written
	// by `outbox dkim keygen` and openssl genpkey) for RSA or Ed25519, or
	// PKCS #1 ("RSA PRIVATE KEY"). RSA keys need at least 2048 bits. The
	// file must not be readable or writable by other users (mode 0600 or
	// 0640); group read is allowed, for a root-owned key read by the
	// daemon's group. Required.
	KeyFile string `toml:"key_file"`

	// Signer is the key read from KeyFile, set by Load (and Validate).
	Signer crypto.Signer `toml:"-"`
}

// minRSABits is the smallest RSA key accepted. RFC 8301 §3.2: verifiers
// ignore keys under 1024 bits, and signers SHOULD use at least 2048.
const minRSABits = 2048

// resolveDKIM lower-cases the fallback domain. A domain's nil header list
// stays nil: the signer (delivery/dkim) owns the default list.
func (c *Config) resolveDKIM() {
	c.DKIM.FallbackDomain = strings.ToLower(strings.TrimSuffix(c.DKIM.FallbackDomain, "."))
	if len(c.DKIM.Domains) == 0 {
		c.DKIM.Domains = nil
	}
}

// validateDKIM checks [dkim] and reads every key file into its Signer.
func (c *Config) validateDKIM(ps *problems) {
	c.resolveDKIM()
	seen := map[string]bool{}
	for i := range c.DKIM.Domains {
		d := &c.DKIM.Domains[i]
		key := fmt.Sprintf("dkim.domain[%d]", i)
		switch {
		case d.Domain == "":
			ps.add(key+".domain", "required")
		case checkDomain(d.Domain, false) != "":
			ps.add(key+".domain", "%s", checkDomain(d.Domain, false))
		case seen[d.Domain]:
			ps.add(key+".domain", "%s is listed twice", d.Domain)
		}
		seen[d.Domain] = true
		hasFrom := false
		for _, h := range d.Headers {
			hasFrom = hasFrom || strings.EqualFold(h, "From")
			if !isFieldName(h) {
				ps.add(key+".headers", "%q is not a header field name", h)
			}
		}
		if d.Headers != nil && !hasFrom {
			ps.add(key+".headers", "must include From (RFC 6376 §5.4)")
		}
		switch exp, life := d.Expiry.Duration, c.Delivery.MaxLifetime.Duration; {
		case exp < 0:
			ps.add(key+".expiry", "must not be negative")
		case exp > 0 && exp < life:
			ps.add(key+".expiry", "%s is shorter than delivery.max_lifetime (%s): a message delivered late would carry an expired signature", d.Expiry, c.Delivery.MaxLifetime)
		}
		if len(d.Keys) == 0 {
			ps.add(key+".key", "at least one [[dkim.domain.key]] is required")
		}
		selectors := map[string]bool{}
		for j := range d.Keys {
			k := &d.Keys[j]
			kkey := fmt.Sprintf("%s.key[%d]", key, j)
			switch {
			case k.Selector == "":
				ps.add(kkey+".selector", "required")
			case !validHostname(k.Selector) || strings.HasSuffix(k.Selector, "."):
				ps.add(kkey+".selector", "%q is not a selector (DNS labels: letters, digits, hyphens)", k.Selector)
			case selectors[strings.ToLower(k.Selector)]:
				ps.add(kkey+".selector", "%s is listed twice", k.Selector)
			}
			selectors[strings.ToLower(k.Selector)] = true
			if k.KeyFile == "" {
				ps.add(kkey+".key_file", "required")
				continue
			}
			n := len(*ps)
			readable(ps, kkey+".key_file", k.KeyFile)
			if len(*ps) > n {
				continue
			}
			signer, err := LoadDKIMKey(k.KeyFile)
			if err != nil {
				ps.add(kkey+".key_file", "%v", err)
				continue
			}
			k.Signer = signer
		}
	}
	if f := c.DKIM.FallbackDomain; f != "" && !seen[f] {
		ps.add("dkim.fallback_domain", "%s is not one of the [[dkim.domain]] entries", f)
	}
}

// LoadDKIMKey reads a DKIM private key file and checks it: PEM, RSA of at
// least 2048 bits or Ed25519, and not accessible to other users (the
// group may read it).
func LoadDKIMKey(path string) (crypto.Signer, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if perm := fi.Mode().Perm(); perm&0o007 != 0 {
		return nil, fmt.Errorf("%s is accessible to other users (mode %04o): chmod 600 (or 640 for a group) it", path, perm)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseDKIMKey(path, data)
}

func parseDKIMKey(path string, data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s is not a PEM private key", path)
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%s holds a %q PEM block, want \"PRIVATE KEY\" (PKCS #8) or \"RSA PRIVATE KEY\"", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < minRSABits {
			why := "RFC 8301 §3.2: signers use at least 2048 bits"
			if bits < 1024 {
				why = "verifiers ignore RSA keys under 1024 bits (RFC 8301 §3.2)"
			}
			return nil, fmt.Errorf("%s: RSA key of %d bits is too small (%s); generate one with `outbox dkim keygen`", path, bits, why)
		}
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, errors.New(path + fmt.Sprintf(": unsupported key type %T (RSA or Ed25519 only)", key))
}

// isFieldName reports whether s is a header field name: printable ASCII
// other than the colon (RFC 5322 §2.2).
func isFieldName(s string) bool {
	for _, c := range []byte(s) {
		if c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return s != ""
}
