package probe

import (
	"crypto/tls"
	"time"

	"github.com/outbox-mta/outbox/delivery/dane"
)

// DANEOptions ask a probe to check the server's chain against TLSA
// records (RFC 7672), as delivery does for an MX host whose records are
// DNSSEC-validated.
type DANEOptions struct {
	// Name is where the records were found ("_25._tcp.mx.example.com"),
	// Records the host's TLSA records.
	Name    string
	Records []dane.Record
	// Names are the reference identifiers for DANE-TA(2): the MX host
	// name, then the next-hop domain (RFC 7672 §3.2.3).
	Names []string
}

// DANE is the outcome of the DANE check.
type DANE struct {
	// TLSA is the name the records were found at, Records the records.
	TLSA    string   `json:"tlsa"`
	Records []string `json:"records"`
	// Requirement: "authentication", "encryption (TLSA records, none
	// usable)".
	Requirement string `json:"requirement"`
	Verified    bool   `json:"verified"`
	// Match names the record that matched ("TLSA 3 1 1 ab… at depth 0").
	Match string `json:"match,omitempty"`
	Error string `json:"error,omitempty"`
}

// checkDANE runs the DANE check of o on a finished handshake.
func checkDANE(st tls.ConnectionState, o *DANEOptions, now time.Time) *DANE {
	if o == nil {
		return nil
	}
	_, req := dane.Classify(o.Records)
	d := &DANE{TLSA: o.Name, Requirement: req.String()}
	for _, r := range o.Records {
		d.Records = append(d.Records, r.String())
	}
	if req != dane.RequireAuthentication {
		return d
	}
	m, err := dane.Verify(o.Records, st.PeerCertificates, o.Names, now)
	if err != nil {
		d.Error = err.Error()
		return d
	}
	d.Verified, d.Match = true, m.String()
	return d
}
