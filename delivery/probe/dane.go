package probe

import "crypto/x509"

// DANECheck checks the chain a server sent (leaf first) against the TLSA
// records of its host (RFC 7672) and reports the outcome. The caller
// builds it from the records it found (cmd/outbox probe, with
// delivery/dane).
type DANECheck func(chain []*x509.Certificate) *DANE

// DANE is the outcome of a DANE check.
type DANE struct {
	// TLSA is the name the records were found at, Records the records in
	// presentation form.
	TLSA    string   `json:"tlsa"`
	Records []string `json:"records"`
	// Requirement: "authentication", or "encryption (TLSA records, none
	// usable)" when TLS is mandatory but not authenticated.
	Requirement string `json:"requirement"`
	Verified    bool   `json:"verified"`
	// Match names the record that matched ("TLSA 3 1 1 ab… at depth 0").
	Match string `json:"match,omitempty"`
	Error string `json:"error,omitempty"`
}
