// Package dkim signs outgoing mail with DKIM (RFC 6376) using go-msgauth,
// and holds the tools to publish and check keys: key generation, the DNS
// TXT record to publish, and the comparison of a published record with a
// configured key.
//
// # Where signing happens: once, at acceptance
//
// The submission listener streams each accepted message to the spool and,
// through Keys.Sign, to one go-msgauth Signer per key at the same time. At
// the end of the data the DKIM-Signature fields are known; the listener
// stores them with the message as an opaque prefix (store.Message.Prefix)
// that the store puts in front of the body whenever it is read. So:
//
//   - the signed bytes are exactly the stored bytes, sent unchanged on
//     every delivery attempt to every destination;
//   - signing costs one pass over the body while it arrives, and nothing
//     per attempt: a message retried for five days is signed once, and a
//     25 MiB message is never buffered (the spool streams it to disk and
//     the signer hashes it on the way);
//   - a key replaced or removed after acceptance does not affect queued
//     mail, which keeps the signature made when it was accepted. With an
//     expiry (x=) configured, a message delivered after the expiry carries
//     an expired signature: keep the expiry longer than
//     delivery.max_lifetime.
//
// Since the stored bytes are what every next hop gets, the listener makes
// them fit for any of them before signing: a signed message with an 8-bit
// body, or any message with lines over 998 octets, is stored in its 7-bit
// form (delivery/sevenbit), and a message of header fields only with the
// empty line that gives it an empty body. Delivery never converts a signed
// message, so the signature verifies on every copy.
//
// Signing at each delivery would instead re-read the body once more per
// attempt, and could not sign streaming without buffering the message or
// reading it twice (the signature must precede the body on the wire).
//
// # Which domain signs
//
// The signing domain (d=) is the domain of the message's From header field,
// so that DKIM passes DMARC alignment (RFC 7489 §3.1.1). When that exact
// domain has no key, its parent domains are tried ("news.example.com" is
// signed by "example.com", which DMARC's relaxed alignment accepts); then
// the fallback domain, when configured (off by default: a message from a
// domain without a key leaves unsigned). Several keys for one domain give
// several signatures (RSA and Ed25519 side by side, RFC 8463 §4).
//
// # What is signed
//
// relaxed/relaxed canonicalization, SHA-256. h= lists the configured header
// fields the message has (each as often as it occurs) plus From once more:
// From is over-signed (RFC 6376 §8.15), so a From field added in transit
// breaks the signature. Fields the message lacks are not listed.
//
// # Reloading keys
//
// Keys is immutable. Holder keeps the current *Keys behind an atomic
// pointer: the listener signs through the Holder, and a configuration
// reload stores a new Keys without stopping anything; a message in
// progress finishes with the keys it started with.
//
// # Imports
//
// It imports go-msgauth, miekg/dns (for Lookup) and the standard library,
// and no other package of Outbox: cmd builds Keys from the configuration and
// adapts Holder to the listener's Signer.
//
// Never imports: cmd/..., config, store/..., queue/..., delivery, mxresolve/....
package dkim
