package mtasts

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Mode is a policy's mode (RFC 8461 §5).
type Mode string

// Policy modes.
const (
	ModeEnforce Mode = "enforce"
	ModeTesting Mode = "testing"
	ModeNone    Mode = "none"
)

// MaxMaxAge is the largest max_age RFC 8461 §3.2 allows: 31557600 seconds,
// about one year.
const MaxMaxAge = 31557600 * time.Second

// Policy is a parsed MTA-STS policy (RFC 8461 §3.2).
type Policy struct {
	Mode   Mode
	MX     []string // patterns: "mail.example.com", "*.example.net"
	MaxAge time.Duration
}

// ErrInvalidPolicy is wrapped by every error of ParsePolicy.
var ErrInvalidPolicy = errors.New("mta-sts: invalid policy")

// ParsePolicy parses the text of a policy: "key: value" lines ending in
// CRLF or LF (RFC 8461 §3.2). The version must be STSv1, mode and max_age
// are required, mx is required unless the mode is none; unknown keys are
// ignored, as the RFC requires.
func ParsePolicy(text string) (*Policy, error) {
	p := &Policy{}
	seen := map[string]bool{}
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%w: line %d has no colon", ErrInvalidPolicy, n+1)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k != "mx" && seen[k] {
			return nil, fmt.Errorf("%w: %s given twice", ErrInvalidPolicy, k)
		}
		seen[k] = true
		if err := p.set(k, v); err != nil {
			return nil, err
		}
	}
	switch {
	case !seen["version"]:
		return nil, fmt.Errorf("%w: no version", ErrInvalidPolicy)
	case p.Mode == "":
		return nil, fmt.Errorf("%w: no mode", ErrInvalidPolicy)
	case !seen["max_age"]:
		return nil, fmt.Errorf("%w: no max_age", ErrInvalidPolicy)
	case p.Mode != ModeNone && len(p.MX) == 0:
		return nil, fmt.Errorf("%w: mode %s without mx", ErrInvalidPolicy, p.Mode)
	}
	return p, nil
}

// set applies one key of a policy.
func (p *Policy) set(k, v string) error {
	switch k {
	case "version":
		if v != "STSv1" {
			return fmt.Errorf("%w: version %q", ErrInvalidPolicy, v)
		}
	case "mode":
		switch m := Mode(v); m {
		case ModeEnforce, ModeTesting, ModeNone:
			p.Mode = m
		default:
			return fmt.Errorf("%w: mode %q", ErrInvalidPolicy, v)
		}
	case "max_age":
		// RFC 8461 §3.2: 1 to 10 digits, at most 31557600. The bound is
		// checked on the number of seconds: ten digits of seconds overflow
		// a time.Duration.
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || len(v) > 10 || n > uint64(MaxMaxAge/time.Second) {
			return fmt.Errorf("%w: max_age %q", ErrInvalidPolicy, v)
		}
		p.MaxAge = time.Duration(n) * time.Second
	case "mx":
		pat := strings.ToLower(strings.TrimSuffix(v, "."))
		if pat == "" || strings.Contains(pat[1:], "*") || (strings.HasPrefix(pat, "*") && !strings.HasPrefix(pat, "*.")) {
			return fmt.Errorf("%w: mx %q", ErrInvalidPolicy, v)
		}
		p.MX = append(p.MX, pat)
	}
	return nil
}

// Matches reports whether the MX host name matches one of the policy's mx
// patterns (RFC 8461 §4.1): equal, ignoring case and a final dot, or, for
// "*.example.com", one more label in front of example.com (never more
// than one).
func (p *Policy) Matches(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.MX {
		if suffix, ok := strings.CutPrefix(pat, "*."); ok {
			label, rest, found := strings.Cut(host, ".")
			if found && label != "" && rest == suffix {
				return true
			}
			continue
		}
		if host == pat {
			return true
		}
	}
	return false
}

// ParseRecord parses an _mta-sts TXT record (RFC 8461 §3.1):
// "v=STSv1; id=20160831085700Z;". It returns the id; a record that does
// not start with v=STSv1 is not an MTA-STS record (ok false). A record
// with a missing or malformed id is an error.
func ParseRecord(txt string) (id string, ok bool, err error) {
	fields := strings.Split(txt, ";")
	if strings.TrimSpace(fields[0]) != "v=STSv1" {
		return "", false, nil
	}
	for _, f := range fields[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		if k == "id" {
			if v == "" || len(v) > 32 || !alnum(v) {
				return "", true, fmt.Errorf("mta-sts: record id %q is not 1 to 32 letters and digits", v)
			}
			return v, true, nil
		}
	}
	return "", true, errors.New("mta-sts: record without id")
}

func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
