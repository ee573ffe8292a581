package submission

import (
	"errors"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// Limits from RFC 5321 §4.5.3.1: local part 64 octets, domain 255, and a
// path of 256 octets including the angle brackets.
const (
	maxLocalPart = 64
	maxDomain    = 255
	maxMailbox   = 254
)

// checkAddress validates a mailbox as go-smtp hands it over (angle brackets
// and source route removed, a quoted local part already unquoted). It
// accepts RFC 5321 dot-atom local parts, domain names and address literals,
// and their RFC 6531 UTF-8 forms; nonASCII reports whether the address needs
// SMTPUTF8. Quoted local parts that need their quotes (spaces, specials) are
// refused: go-smtp drops the quotes, so they could not be relayed faithfully.
// The error text is meant for the client.
func checkAddress(addr string) (nonASCII bool, err error) {
	if addr == "" {
		return false, errors.New("empty address")
	}
	if len(addr) > maxMailbox {
		return false, errors.New("address longer than 254 octets")
	}
	if !utf8.ValidString(addr) {
		return false, errors.New("address is not valid UTF-8")
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return false, errors.New("address has no @domain")
	}
	local, domain := addr[:at], addr[at+1:]
	if err := checkLocalPart(local); err != nil {
		return false, err
	}
	if err := checkDomain(domain); err != nil {
		return false, err
	}
	for i := 0; i < len(addr); i++ {
		if addr[i] >= utf8.RuneSelf {
			return true, nil
		}
	}
	return false, nil
}

func checkLocalPart(local string) error {
	switch {
	case local == "":
		return errors.New("empty local part")
	case len(local) > maxLocalPart:
		return errors.New("local part longer than 64 octets")
	case local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, ".."):
		return errors.New("misplaced dot in local part")
	}
	for i := 0; i < len(local); i++ {
		if c := local[i]; c != '.' && !isAtext(c) {
			return errors.New("character not allowed in local part")
		}
	}
	return nil
}

// isAtext reports whether c is RFC 5322 atext, or part of a UTF-8 sequence
// (RFC 6532 §3.2 extends atext with UTF8-non-ascii).
func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	case c >= utf8.RuneSelf:
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

func checkDomain(domain string) error {
	switch {
	case domain == "":
		return errors.New("empty domain")
	case len(domain) > maxDomain:
		return errors.New("domain longer than 255 octets")
	case domain[0] == '[':
		return checkAddressLiteral(domain)
	}
	for label := range strings.SplitSeq(domain, ".") {
		if err := checkLabel(label); err != nil {
			return err
		}
	}
	return nil
}

// checkAddressLiteral accepts [192.0.2.1] and [IPv6:2001:db8::1]
// (RFC 5321 §4.1.3); general address literals are not deliverable.
func checkAddressLiteral(domain string) error {
	if domain[len(domain)-1] != ']' {
		return errors.New("unterminated address literal")
	}
	lit := domain[1 : len(domain)-1]
	if v6, ok := cutPrefixFold(lit, "IPv6:"); ok {
		if a, err := netip.ParseAddr(v6); err == nil && a.Is6() && !a.Is4In6() && a.Zone() == "" {
			return nil
		}
		return errors.New("bad IPv6 address literal")
	}
	if a, err := netip.ParseAddr(lit); err == nil && a.Is4() {
		return nil
	}
	return errors.New("bad address literal")
}

func checkLabel(label string) error {
	switch {
	case label == "":
		return errors.New("empty label in domain")
	case len(label) > 63:
		return errors.New("domain label longer than 63 octets")
	case label[0] == '-' || label[len(label)-1] == '-':
		return errors.New("domain label starts or ends with a hyphen")
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c >= utf8.RuneSelf
		if !ok {
			return errors.New("character not allowed in domain")
		}
	}
	return nil
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}
