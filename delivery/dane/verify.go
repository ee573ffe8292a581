package dane

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// Errors of Verify, matched with errors.Is.
var (
	// ErrNoUsable: no record can authenticate (Classify said
	// RequireEncryption or RequireNone); Verify is not to be called then.
	ErrNoUsable = errors.New("no usable TLSA record")
	// ErrNoMatch: no usable record matches the chain the server sent.
	ErrNoMatch = errors.New("no TLSA record matches the server's certificate chain")
	// ErrHostMismatch: a DANE-TA(2) record matched, but the leaf does
	// not carry the MX host name (RFC 7672 §3.2.3).
	ErrHostMismatch = errors.New("certificate does not name the MX host")
	// ErrExpired: a DANE-TA(2) record matched, but the chain is outside
	// its validity period.
	ErrExpired = errors.New("certificate chain expired or not yet valid")
)

// Match says which record authenticated the server.
type Match struct {
	Record Record
	Depth  int // 0 the leaf; n the n-th certificate up the chain; -1 a TA given in full by the record
}

func (m Match) String() string {
	return fmt.Sprintf("TLSA %s at depth %d", m.Record, m.Depth)
}

// Verify checks chain (leaf first, as the server sent it) against recs.
// names are the reference identifiers for DANE-TA(2): the MX host name
// first, then the next-hop domain. now is the time chains are checked at.
func Verify(recs []Record, chain []*x509.Certificate, names []string, now time.Time) (Match, error) {
	usable, _ := Classify(recs)
	if len(usable) == 0 {
		return Match{}, ErrNoUsable
	}
	if len(chain) == 0 {
		return Match{}, fmt.Errorf("%w: no certificate", ErrNoMatch)
	}
	var taErr error
	for _, r := range usable {
		if r.Usage == UsageDANEEE {
			// RFC 7672 §3.1.1: only the key or certificate matters; names
			// and dates are the server operator's business.
			if r.Matches(chain[0]) {
				return Match{Record: r}, nil
			}
			continue
		}
		m, err := verifyTA(r, chain, names, now)
		if err == nil {
			return m, nil
		}
		if !errors.Is(err, ErrNoMatch) || taErr == nil {
			taErr = err
		}
	}
	if taErr != nil && !errors.Is(taErr, ErrNoMatch) {
		return Match{}, taErr
	}
	return Match{}, fmt.Errorf("%w (leaf %s)", ErrNoMatch, describe(chain[0]))
}

// verifyTA checks a DANE-TA(2) record: a certificate matching it, from the
// chain or the record itself, must issue a chain to the leaf, valid now,
// for one of names.
func verifyTA(r Record, chain []*x509.Certificate, names []string, now time.Time) (Match, error) {
	var ta *x509.Certificate
	depth := 0
	for i, c := range chain {
		// The leaf itself as a TA would make a self-issued leaf pass any
		// name; RFC 7672 §3.1.2 speaks of the issuer chain.
		if i > 0 && r.Matches(c) {
			ta, depth = c, i
			break
		}
	}
	if ta == nil && r.Selector == SelectorCert && r.MatchingType == MatchFull {
		// "2 0 0": the TA need not be in the chain (RFC 7672 §3.2.2).
		if c, err := x509.ParseCertificate(r.Data); err == nil {
			ta, depth = c, -1
		}
	}
	if ta == nil {
		return Match{}, ErrNoMatch
	}
	roots := x509.NewCertPool()
	roots.AddCert(ta)
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	opts := x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}
	if _, err := chain[0].Verify(opts); err != nil {
		var inv x509.CertificateInvalidError
		if errors.As(err, &inv) && inv.Reason == x509.Expired {
			return Match{}, fmt.Errorf("%w: %v", ErrExpired, err)
		}
		return Match{}, fmt.Errorf("%w: chain to the TLSA trust anchor: %v", ErrNoMatch, err)
	}
	for _, n := range names {
		if chain[0].VerifyHostname(n) == nil {
			return Match{Record: r, Depth: depth}, nil
		}
	}
	return Match{}, fmt.Errorf("%w: %s is not valid for %q", ErrHostMismatch, describe(chain[0]), names)
}

// describe names a certificate in an error: its subject and DNS names.
func describe(c *x509.Certificate) string {
	return fmt.Sprintf("%q %q", c.Subject.CommonName, c.DNSNames)
}
