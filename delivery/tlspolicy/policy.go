package tlspolicy

import (
	"context"
	"crypto/tls"
	"errors"
)

// Source decides the TLS policy of a destination domain. An error means
// no decision could be made (for example a DNS failure of a validating
// resolver, which RFC 7672 §2.2 treats as temporary): the caller defers.
type Source interface {
	Policy(ctx context.Context, domain string) (Policy, error)
}

// HostChecker decides what one MX host of the domain must do. It returns a
// *Failure when the host may not be used under the policy (an MX name that
// matches no pattern of an MTA-STS policy, RFC 8461 §4.1; unusable TLSA
// records, RFC 7672 §2.2).
type HostChecker interface {
	Host(ctx context.Context, mx string) (Host, error)
}

// Type is the mechanism that decided a policy.
type Type uint8

// Policy types, as named in TLS-RPT reports (RFC 8460 §4.4: "sts", "tlsa",
// "no-policy-found").
const (
	TypeNone   Type = iota // no policy: opportunistic STARTTLS
	TypeMTASTS             // MTA-STS, RFC 8461
	TypeDANE               // DANE, RFC 7672
)

func (t Type) String() string {
	switch t {
	case TypeMTASTS:
		return "mta-sts"
	case TypeDANE:
		return "dane"
	}
	return "none"
}

// Mode says whether a policy's failures stop delivery.
type Mode uint8

// Policy modes (RFC 8461 §5).
const (
	ModeEnforce Mode = iota // a host that fails the policy is not used
	ModeTesting             // failures are recorded for reporting; delivery goes on
)

func (m Mode) String() string {
	if m == ModeTesting {
		return "testing"
	}
	return "enforce"
}

// Policy is the TLS posture a destination domain requires.
type Policy struct {
	Type   Type
	Mode   Mode
	Domain string // the policy domain (RFC 8460 §4.4 policy-domain)
	// ID identifies the policy version (the MTA-STS id), for display.
	ID string
	// Strings is the policy as a TLS report gives it (RFC 8460 §4.4
	// policy-string): the MTA-STS policy's lines, or the TLSA records;
	// MXHosts the mx patterns of an MTA-STS policy (mx-host).
	Strings, MXHosts []string
	// Hosts checks each MX host; nil when Type is TypeNone.
	Hosts HostChecker
	// Note says what happened while deciding, for logs and probe output
	// ("policy fetch failed, cached policy used"); "" when nothing did.
	Note string
	// Failure, when set, is a failure found while deciding (a policy that
	// could not be fetched or parsed: RFC 8460 sts-policy-fetch-error,
	// sts-policy-invalid). It is recorded in the attempt's Outcome.
	Failure *Failure
}

// Enforced reports whether a failure under p must stop delivery to a host.
func (p Policy) Enforced() bool { return p.Type != TypeNone && p.Mode == ModeEnforce }

// String is the form shown to operators: "mta-sts enforce example.com".
func (p Policy) String() string {
	if p.Type == TypeNone {
		return "none"
	}
	return p.Type.String() + " " + p.Mode.String() + " " + p.Domain
}

// Host is what one MX host must do under a policy.
type Host struct {
	// RequireTLS: the session must be encrypted (no STARTTLS, or a failed
	// handshake, fails the host).
	RequireTLS bool
	// Verify checks the peer's certificate for the host; nil means the
	// WebPKI check for the MX name with the Deliverer's roots. It is called
	// from tls.Config.VerifyConnection and returns a *Failure.
	Verify func(cs tls.ConnectionState) error
	// VerifiedBy names what a passing check proves.
	VerifiedBy VerifiedBy
}

// VerifiedBy is what verified a peer's certificate.
type VerifiedBy uint8

// Verification sources, strongest last.
const (
	VerifiedNone   VerifiedBy = iota // not verified (or not encrypted)
	VerifiedWebPKI                   // a chain to a trusted root for the MX name, no policy required it
	VerifiedMTASTS                   // WebPKI under an MTA-STS policy (RFC 8461 §4.2)
	VerifiedDANE                     // a TLSA record matched (RFC 7672 §3)
)

func (v VerifiedBy) String() string {
	switch v {
	case VerifiedWebPKI:
		return "webpki"
	case VerifiedMTASTS:
		return "mta-sts"
	case VerifiedDANE:
		return "dane"
	}
	return "none"
}

// ParseVerifiedBy is the inverse of VerifiedBy.String.
func ParseVerifiedBy(s string) VerifiedBy {
	for v := VerifiedNone; v <= VerifiedDANE; v++ {
		if v.String() == s {
			return v
		}
	}
	return VerifiedNone
}

// ResultType is a failure type of RFC 8460 §4.3.
type ResultType string

// Result types of RFC 8460 §4.3.
const (
	ResultSTARTTLSNotSupported    ResultType = "starttls-not-supported"
	ResultCertificateHostMismatch ResultType = "certificate-host-mismatch"
	ResultCertificateExpired      ResultType = "certificate-expired"
	ResultCertificateNotTrusted   ResultType = "certificate-not-trusted"
	ResultValidationFailure       ResultType = "validation-failure"
	ResultTLSAInvalid             ResultType = "tlsa-invalid"
	ResultDNSSECInvalid           ResultType = "dnssec-invalid"
	ResultDANERequired            ResultType = "dane-required"
	ResultSTSPolicyFetchError     ResultType = "sts-policy-fetch-error"
	ResultSTSPolicyInvalid        ResultType = "sts-policy-invalid"
	ResultSTSWebPKIInvalid        ResultType = "sts-webpki-invalid"
)

// Failure is a TLS policy failure: its RFC 8460 result type and what
// exactly failed.
type Failure struct {
	Result ResultType
	Detail string
	Err    error // underlying error, if any
}

func (f *Failure) Error() string {
	if f.Err != nil {
		return string(f.Result) + ": " + f.Detail + ": " + f.Err.Error()
	}
	return string(f.Result) + ": " + f.Detail
}

func (f *Failure) Unwrap() error { return f.Err }

// AsFailure returns err as a *Failure, or nil.
func AsFailure(err error) *Failure {
	var f *Failure
	if errors.As(err, &f) {
		return f
	}
	return nil
}

// Outcome is the TLS outcome of one delivery attempt.
type Outcome struct {
	Version    string // "TLS1.3"; "" when not encrypted
	Cipher     string // "TLS_AES_128_GCM_SHA256"; "" when not encrypted
	VerifiedBy VerifiedBy
	Policy     Type
	Mode       Mode   // meaningful when Policy is not TypeNone
	Domain     string // policy domain; "" for TypeNone
	// Failure is the RFC 8460 result type of the failure that decided (or,
	// under ModeTesting, would have decided) the attempt; "" when none.
	Failure ResultType
	// Detail says what failed, in words; "" when nothing did.
	Detail string
}

// Encrypted reports whether the session was encrypted.
func (o Outcome) Encrypted() bool { return o.Version != "" }
