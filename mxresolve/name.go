package mxresolve

import (
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// normalize turns a destination domain into the form used in queries and in
// Host.Name: lower case, A-labels (IDNA, RFC 5891 §5) for UTF-8 names, no
// trailing dot. It reports false when the result is not a valid domain name.
func normalize(domain string) (string, bool) {
	name := strings.TrimSuffix(domain, ".")
	if name == "" {
		return "", false
	}
	if utf8.ValidString(name) && !isASCII(name) {
		// The Lookup profile maps case and width and checks the bidi and
		// joiner rules, as RFC 5891 §5 asks of a name about to be looked up.
		a, err := idna.Lookup.ToASCII(name)
		if err != nil {
			return "", false
		}
		name = a
	}
	name = strings.ToLower(name)
	if !isHostname(name) {
		return "", false
	}
	return name, true
}

// isHostname checks the RFC 5321 §4.1.2 Domain syntax (letters, digits and
// hyphens in labels of 1 to 63 octets, 253 in all, RFC 1035 §2.3.4),
// tolerating "_", which some real host names carry. It keeps spaces, NULs
// and escapes, which DNS itself would accept, out of queries and logs.
func isHostname(name string) bool {
	if len(name) > 253 {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
			if !ok {
				return false
			}
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// addressLiteral parses an RFC 5321 §4.1.3 address literal, "[192.0.2.1]" or
// "[IPv6:2001:db8::1]". Such a destination is delivered to directly, with no
// DNS lookup.
func addressLiteral(domain string) (netip.Addr, bool) {
	inner, ok := strings.CutPrefix(domain, "[")
	if !ok {
		return netip.Addr{}, false
	}
	inner, ok = strings.CutSuffix(inner, "]")
	if !ok {
		return netip.Addr{}, false
	}
	if v6, ok := cutPrefixFold(inner, "IPv6:"); ok {
		a, err := netip.ParseAddr(v6)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return netip.Addr{}, false
		}
		return a, true
	}
	a, err := netip.ParseAddr(inner)
	if err != nil || !a.Is4() {
		return netip.Addr{}, false
	}
	return a, true
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}

// isIPTarget reports whether an MX target is an IP address written as a
// name ("192.0.2.1" or "[192.0.2.1]"). RFC 5321 §5.1 requires MX targets to
// be host names; like Exim (allow_mx_to_ip = false) and Postfix, Outbox does
// not connect to such a target, and treats it as a host without address.
func isIPTarget(target string) bool {
	t := strings.TrimSuffix(strings.TrimPrefix(target, "["), "]")
	_, err := netip.ParseAddr(t)
	return err == nil
}
