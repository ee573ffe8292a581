// Package mxresolve finds where to deliver mail for a destination domain:
// an ordered list of mail exchangers, each with the addresses to connect
// to, or a classified error that says whether to bounce or to retry.
//
// It owns the DNS side of "direct to MX" delivery and nothing else. It
// speaks DNS itself with github.com/miekg/dns, because the standard
// library's net.LookupMX cannot tell a domain that does not exist
// (NXDOMAIN: bounce) from one that exists without MX (NODATA: implicit
// MX), nor a null MX from a failure. It must never import delivery, queue,
// store or config: delivery consumes it, cmd configures it with plain
// fields. Its test server lives in mxresolve/dnstest.
//
// Never imports: cmd/..., config, store/..., queue/..., delivery/....
//
// # Contract of Resolver.Lookup
//
// The domain is normalised first: trailing dot removed, lower case, UTF-8
// names converted to A-labels (IDNA, RFC 5891 §5). An RFC 5321 §4.1.3
// address literal ("[192.0.2.1]", "[IPv6:2001:db8::1]") needs no DNS: it is
// returned as one Implicit host with that address.
//
// MX records (RFC 5321 §5.1):
//   - NXDOMAIN → ErrNXDomain, permanent, 5.1.2. A CNAME chain ending in
//     NXDOMAIN counts as NXDOMAIN (RFC 6604).
//   - NOERROR without MX (NODATA) → implicit MX: the domain itself is the
//     only host, preference 0, Implicit set.
//   - MX records whose only target is "." → ErrNullMX, permanent, 5.1.10
//     (RFC 7505); no address query is made and so no connection can be.
//     RFC 7505 fixes its preference at 0; any preference is accepted. A "."
//     beside other MX records is ignored and the others are used.
//   - SERVFAIL, REFUSED, any other RCODE, timeout, network error →
//     ErrTemporary, 4.4.3.
//
// Order: ascending preference, equal preferences shuffled (RFC 5321 §5.1:
// "randomize them to spread the load"), see Order; a host listed twice
// keeps its lowest preference. The list is then cut to MaxHosts (5), before
// any address lookup, so that one lookup costs a bounded number of queries.
//
// Addresses: for each remaining host, AAAA and A are asked concurrently
// (and for every host at once). Each Host lists its IPv6 addresses, then
// its IPv4 ones (RFC 6724 prefers IPv6; PreferIPv4 reverses it), in answer
// order, without duplicates or unspecified addresses. Delivery tries them
// in that order, so a host without IPv6 routing fails fast to IPv4.
//
//   - A host none of whose names resolve is left out (and logged). When no
//     host is left: ErrTemporary if any host's lookup failed temporarily,
//     else ErrNoAddress, permanent, 5.4.4 (every host NXDOMAIN or without
//     AAAA/A: the domain's mail is unroutable, as Postfix judges it). With
//     an implicit MX this means the domain has neither MX nor address.
//   - An MX target that is an IP address ("MX 10 192.0.2.1") breaks RFC
//     5321 §5.1; like Exim and Postfix, it is not connected to and counts as
//     a host without address.
//   - An MX target that is a CNAME breaks RFC 2181 §10.3 but is common: the
//     CNAME is followed for the addresses, and Host.Name stays the MX
//     target, the name the server's certificate is checked against.
//
// CNAMEs are followed within an answer and, when a server stops at a CNAME,
// by asking its target, for at most 8 names. Queries go over UDP with EDNS0
// (1232 bytes, RD set); a truncated answer is asked again over TCP (RFC
// 7766 §5). Timeout bounds each transport of each query; ctx cancellation
// ends a query at once. There is no retransmission: a lost packet costs a
// deferral, and the queue retries.
//
// # Cache
//
// With Resolver.Cache set, each query's verdict is kept by question (name
// and type, after the CNAME chain is followed), so a burst of mail to one
// domain costs one MX query and one per address family and host, not one
// set per message. Order (the shuffle of equal preferences) and MaxHosts
// still apply to every Lookup; the Hosts returned share nothing with the
// cache.
//
//   - Records are kept for the least TTL of the answer records along the
//     chain, raised to MinTTL and cut to MaxTTL (a TTL of 0, "do not
//     cache" in RFC 1035 §3.2.1, is raised to MinTTL too).
//   - NXDOMAIN and NODATA are kept for min(SOA TTL, SOA MINIMUM) of the
//     SOA in the authority section (RFC 2308 §5), raised to NegativeMinTTL
//     and cut to NegativeMaxTTL. A negative answer without an SOA is not
//     kept (RFC 2308 §5: it "SHOULD NOT be cached").
//   - Failures (SERVFAIL, REFUSED, timeouts, network errors) are never
//     kept. RFC 2308 §7 allows keeping them for at most five minutes; the
//     queue already spaces the next attempt at a deferred destination, and
//     a burst of lookups during an outage already shares one query (below),
//     so a kept failure would only delay recovery.
//   - Concurrent lookups of one question share one query. It runs on a
//     context of its own that ends when every caller waiting for it has
//     given up, so one caller's cancellation never fails another's lookup;
//     a caller that gives up returns at once.
//   - At most Size entries are held; the least recently used goes first.
//     An expired entry is dropped when next asked for, or evicted.
//
// Cache.Stats counts hits (answered without a query of one's own) and
// misses (a query sent) and the entries held; cmd exposes them as metrics.
//
// # DNSSEC and TLSA (RFC 7672 §2.2)
//
// With Resolver.Validating set (the operator vouches that Server validates
// DNSSEC, as Postfix's smtp_dns_support_level = dnssec), every query sets
// the AD bit (RFC 6840 §5.7) and an answer counts as secure when every
// response along its CNAME chain came back with AD. Host.Secure is set
// when the MX answer (or the NODATA behind an implicit MX) and each
// address family that answered were secure; a family whose query failed
// gave no address and does not count. Without Validating nothing is ever
// secure. LookupTLSA asks "_PORT._tcp.HOST" TLSA and reports its records
// and whether the answer (positive or negative) was secure; a failure is
// ErrTemporary, since a validating resolver answers SERVFAIL for bogus
// data and the host must then not be used (RFC 7672 §2.2).
//
// Every error is an *Error (errors.As) whose Kind is one of the sentinels
// (errors.Is) and which carries Permanent and the enhanced status code for
// the bounce or the deferral. A lookup ended by ctx also matches
// context.Canceled or context.DeadlineExceeded; a query timeout matches
// os.ErrDeadlineExceeded.
package mxresolve
