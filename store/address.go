package store

import "strings"

// Domain is the destination domain of addr in the one form every part of
// Outbox compares, groups and counts it by: the text after the last "@"
// (a quoted local part may itself contain "@", a domain never does),
// passed through NormalizeDomain; "" when addr has no "@". Delivery
// grouping, `flush --domain`, List's Filter.Domain and the per-domain
// statistics all use it, so they agree on what one domain is.
func Domain(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	return NormalizeDomain(addr[at+1:])
}

// NormalizeDomain lower-cases name (domains are case-insensitive, RFC 5321
// §2.4; local parts are not, so only the domain is touched) and drops one
// trailing dot (the root label: "example.com." is "example.com"). An
// address literal ("[192.0.2.1]", "[IPv6:...]") is lower-cased like a
// name and otherwise kept. UTF-8 labels are not converted to A-labels:
// the spool keeps an SMTPUTF8 address as submitted, and the conversion
// belongs to the lookup (mxresolve, RFC 5891 §5), so "bücher.example" and
// "xn--bcher-kva.example" are two spellings here.
func NormalizeDomain(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}
