package dane

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"fmt"

	"github.com/miekg/dns"
)

// Certificate usages (RFC 6698 §2.1.1, acronyms of RFC 7218).
const (
	UsagePKIXTA uint8 = 0 // unusable for SMTP, RFC 7672 §3.1.3
	UsagePKIXEE uint8 = 1 // unusable for SMTP, RFC 7672 §3.1.3
	UsageDANETA uint8 = 2
	UsageDANEEE uint8 = 3
)

// Selectors (RFC 6698 §2.1.2).
const (
	SelectorCert uint8 = 0 // the whole certificate (DER)
	SelectorSPKI uint8 = 1 // its SubjectPublicKeyInfo (DER)
)

// Matching types (RFC 6698 §2.1.3).
const (
	MatchFull   uint8 = 0 // the selected data itself
	MatchSHA256 uint8 = 1
	MatchSHA512 uint8 = 2
)

// Record is one TLSA record.
type Record struct {
	Usage, Selector, MatchingType uint8
	Data                          []byte // certificate association data
}

// String is the record's presentation form, digests in full: "3 1 1 ab12…".
func (r Record) String() string {
	return fmt.Sprintf("%d %d %d %x", r.Usage, r.Selector, r.MatchingType, r.Data)
}

// FromDNS converts TLSA resource records. A record whose data is not hex
// is kept with no data: it is unusable, but it still exists, which makes
// TLS mandatory (RFC 7672 §2.2).
func FromDNS(rrs []*dns.TLSA) []Record {
	out := make([]Record, 0, len(rrs))
	for _, rr := range rrs {
		data, err := hex.DecodeString(rr.Certificate)
		if err != nil {
			data = nil
		}
		out = append(out, Record{Usage: rr.Usage, Selector: rr.Selector, MatchingType: rr.MatchingType, Data: data})
	}
	return out
}

// Usable reports whether r can authenticate an SMTP server.
func (r Record) Usable() bool {
	if r.Usage != UsageDANETA && r.Usage != UsageDANEEE {
		return false
	}
	if r.Selector != SelectorCert && r.Selector != SelectorSPKI {
		return false
	}
	switch r.MatchingType {
	case MatchFull:
		return len(r.Data) > 0
	case MatchSHA256:
		return len(r.Data) == sha256.Size
	case MatchSHA512:
		return len(r.Data) == sha512.Size
	}
	return false
}

// Matches reports whether cert is the one r designates.
func (r Record) Matches(cert *x509.Certificate) bool {
	sel := cert.Raw
	if r.Selector == SelectorSPKI {
		sel = cert.RawSubjectPublicKeyInfo
	}
	var got []byte
	switch r.MatchingType {
	case MatchFull:
		got = sel
	case MatchSHA256:
		d := sha256.Sum256(sel)
		got = d[:]
	case MatchSHA512:
		d := sha512.Sum512(sel)
		got = d[:]
	default:
		return false
	}
	return len(got) == len(r.Data) && string(got) == string(r.Data)
}

// Requirement is what the TLSA records of a host demand of its session.
type Requirement uint8

// Requirements, weakest first.
const (
	RequireNone           Requirement = iota // no records: DANE does not apply
	RequireEncryption                        // records, none usable: TLS mandatory, unauthenticated
	RequireAuthentication                    // usable records: TLS and a matching chain
)

func (q Requirement) String() string {
	switch q {
	case RequireEncryption:
		return "encryption (TLSA records, none usable)"
	case RequireAuthentication:
		return "authentication"
	}
	return "none"
}

// Classify returns the usable records among recs and what they require
// (RFC 7672 §2.2).
func Classify(recs []Record) ([]Record, Requirement) {
	var usable []Record
	for _, r := range recs {
		if r.Usable() {
			usable = append(usable, r)
		}
	}
	switch {
	case len(usable) > 0:
		return usable, RequireAuthentication
	case len(recs) > 0:
		return nil, RequireEncryption
	}
	return nil, RequireNone
}
