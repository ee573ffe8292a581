package mxresolve

import (
	"errors"
	"strings"
)

// Classes of lookup failure. Every error Lookup returns is an *Error whose
// Kind is one of these, so callers match a class with errors.Is and read the
// details (permanence, enhanced status code) with errors.As.
var (
	// ErrNXDomain: the destination domain does not exist (RCODE 3). Permanent,
	// enhanced code 5.1.2 (RFC 3463 "bad destination system address").
	ErrNXDomain = errors.New("domain does not exist")
	// ErrNullMX: the domain publishes a null MX, "MX 0 ." (RFC 7505): it
	// accepts no mail. Permanent, enhanced code 5.1.10 (RFC 7505 §4.2).
	ErrNullMX = errors.New("domain accepts no mail (null MX, RFC 7505)")
	// ErrNoAddress: the domain exists, but no mail exchanger has an address
	// and every one was answered authoritatively (NXDOMAIN, NODATA, or an MX
	// target that is not a host name). Permanent, enhanced code 5.4.4 (RFC
	// 3463 "unable to route").
	ErrNoAddress = errors.New("no mail exchanger has an address")
	// ErrInvalidDomain: the destination is not a valid domain name, before
	// or after IDNA conversion. Permanent, enhanced code 5.1.2.
	ErrInvalidDomain = errors.New("invalid domain name")
	// ErrTemporary: the answer could not be had (SERVFAIL, REFUSED, timeout,
	// network error, truncated TCP answer, no nameserver). Temporary,
	// enhanced code 4.4.3 (RFC 3463 "directory server failure"): retry later.
	ErrTemporary = errors.New("temporary DNS failure")
)

// Enhanced status codes (RFC 3463) carried by Error.
const (
	codeNXDomain  = "5.1.2"
	codeNullMX    = "5.1.10"
	codeNoAddress = "5.4.4"
	codeTemporary = "4.4.3"
)

// Error is the one error type of this package: a classified failure to
// resolve a destination domain.
type Error struct {
	Domain    string // the destination domain, normalised (A-labels, no trailing dot)
	Kind      error  // one of the sentinels above
	Permanent bool   // true: bounce without retrying; false: defer
	Enhanced  string // RFC 3463 enhanced status code, e.g. "5.1.10"
	Msg       string // what happened, for the bounce or the log
	Err       error  // underlying cause (DNS library, network), may be nil
	// Query names the lookup ("TLSA"); "" is the MX lookup of Lookup.
	Query string
}

func (e *Error) Error() string {
	var b strings.Builder
	q := e.Query
	if q == "" {
		q = "MX"
	}
	b.WriteString(q + " lookup for ")
	b.WriteString(e.Domain)
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap exposes both the class sentinel and the cause, so that
// errors.Is(err, ErrTemporary) and errors.Is(err, context.Canceled) both work.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// newError builds an *Error of the given class, deriving permanence and
// the enhanced code from it so they cannot disagree.
func newError(domain string, kind error, msg string, cause error) *Error {
	e := &Error{Domain: domain, Kind: kind, Msg: msg, Err: cause, Permanent: true}
	switch kind {
	case ErrNXDomain, ErrInvalidDomain:
		e.Enhanced = codeNXDomain
	case ErrNullMX:
		e.Enhanced = codeNullMX
	case ErrNoAddress:
		e.Enhanced = codeNoAddress
	default:
		e.Permanent = false
		e.Enhanced = codeTemporary
	}
	return e
}
