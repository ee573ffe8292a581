package store

import "strings"

// notifyWords are the NOTIFY keywords of RFC 3461 §4.1, in the order they
// are spelled.
var notifyWords = [...]struct {
	bit  DSNNotify
	word string
}{{NotifyNever, "NEVER"}, {NotifySuccess, "SUCCESS"}, {NotifyFailure, "FAILURE"}, {NotifyDelay, "DELAY"}}

// Keywords spells n as RFC 3461 §4.1 does: "NEVER", or some of "SUCCESS",
// "FAILURE", "DELAY"; nil when the parameter was not given.
func (n DSNNotify) Keywords() []string {
	var out []string
	for _, w := range notifyWords {
		if n&w.bit != 0 {
			out = append(out, w.word)
		}
	}
	return out
}

// ParseNotify is the inverse of DSNNotify.Keywords, case-insensitive;
// false for an unknown keyword.
func ParseNotify(words []string) (DSNNotify, bool) {
	var n DSNNotify
	for _, s := range words {
		found := false
		for _, w := range notifyWords {
			if strings.EqualFold(s, w.word) {
				n |= w.bit
				found = true
			}
		}
		if !found {
			return 0, false
		}
	}
	return n, true
}

// String is the RET value, "FULL" or "HDRS", or "" when unset.
func (r DSNRet) String() string {
	switch r {
	case RetFull:
		return "FULL"
	case RetHdrs:
		return "HDRS"
	}
	return ""
}

// ParseRet is the inverse of DSNRet.String, case-insensitive; "" is
// RetUnset and anything else false.
func ParseRet(s string) (DSNRet, bool) {
	for _, r := range []DSNRet{RetUnset, RetFull, RetHdrs} {
		if strings.EqualFold(s, r.String()) {
			return r, true
		}
	}
	return 0, false
}
