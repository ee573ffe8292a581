// Package tlspolicy is the seam between outbound delivery and the
// standards that decide how much TLS a destination requires: MTA-STS
// (RFC 8461), DANE for SMTP (RFC 7672), the downgrade memory of a domain's
// best TLS level, and REQUIRETLS (RFC 8689). It holds the types both sides
// share and no network code of its own.
//
// Never imports: cmd/..., config, store/..., queue/..., delivery,
// go.etcd.io/bbolt.
//
// # The seam
//
// delivery.Options.TLSPolicies is a Source: before connecting to a
// domain's MX hosts, the Deliverer calls
//
//	Policy(ctx, domain) (Policy, error)
//
// once per attempt. The Policy says which mechanism applies (Type), whether
// its failures are enforced or only reported (Mode), and the policy domain
// for TLS reporting (RFC 8460 §4.4). For every MX host it then calls
//
//	Policy.Hosts.Host(ctx, mxName) (Host, error)
//
// An error that is a *Failure rejects that host under Mode Enforce (the
// next host is tried; when none is left the recipients are deferred with
// Failure.Reply) and is only recorded under Mode Testing. The Host returned
// says whether TLS is required and how the peer is verified: Verify, when
// set, replaces the WebPKI check of the certificate and is called from
// tls.Config.VerifyConnection with the handshake's state; VerifiedBy names
// what a successful check proves (VerifiedMTASTS, VerifiedDANE).
//
// A nil Hosts, or a Policy of Type None, leaves the session opportunistic.
//
// # Precedence
//
// Chain asks its Sources in order and keeps the first Policy whose Type is
// not None: DANE first, then MTA-STS (RFC 8461 §2: "senders who implement
// MTA-STS and DANE" validate with DANE when TLSA records exist).
//
// # Outcome
//
// Every attempt records an Outcome (Result.TLSOutcome in delivery): the
// TLS version and cipher, what verified the peer (VerifiedBy), the policy
// type and domain, and on failure the result type of RFC 8460 §4.3
// (ResultType) — what TLS-RPT aggregates.
package tlspolicy
