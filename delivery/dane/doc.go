// Package dane authenticates SMTP servers with DANE (RFC 7672): it sorts
// the TLSA records of an MX host into usable and unusable ones, and
// matches a server's certificate chain against the usable ones.
//
// It owns the matching rules and nothing of DNS or TLS sessions: the TLSA
// records come from mxresolve.Resolver.LookupTLSA, which also says
// whether they were DNSSEC-validated; the check runs inside the TLS
// handshake of delivery (tls.Config.VerifyConnection).
//
// Never imports: cmd/..., config, store/..., queue/..., delivery,
// go.etcd.io/bbolt.
//
// # Contract
//
//   - Only DANE-TA(2) and DANE-EE(3) records are usable (RFC 7672 §3.1.3:
//     PKIX-TA(0) and PKIX-EE(1) "SHOULD NOT" be published and are treated
//     as unusable), with selector Cert(0) or SPKI(1) and matching type
//     Full(0), SHA2-256(1) or SHA2-512(2); a digest of the wrong length is
//     unusable too (RFC 7671 §4 reads such a record as unusable).
//   - Classify: no records → RequireNone (DANE does not apply); records but
//     none usable → RequireEncryption (TLS is mandatory but unauthenticated,
//     RFC 7672 §2.2); any usable record → RequireAuthentication.
//   - DANE-EE(3) matches the leaf certificate only; its names, expiry and
//     issuer are not checked (RFC 7672 §3.1.1).
//   - DANE-TA(2) matches a certificate of the chain the server sent, or
//     is itself the full certificate (2 0 0); the leaf must then chain to
//     it, be valid now, and carry one of the reference identifiers (RFC
//     7672 §3.2.3: the MX host name, and the next-hop domain), wildcards
//     matching one leftmost label only.
//   - Verify succeeds when any usable record matches (RFC 6698 §4.1: the
//     records of an RRset are alternatives). Its errors match one of
//     ErrNoMatch, ErrHostMismatch, ErrExpired, ErrNoUsable with errors.Is.
package dane
