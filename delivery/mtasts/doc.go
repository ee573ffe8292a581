// Package mtasts implements the sending side of SMTP MTA Strict Transport
// Security (RFC 8461): the _mta-sts TXT record, the policy fetched over
// HTTPS, its cache, and the tlspolicy.Source that turns a domain's policy
// into what delivery requires of each MX host.
//
// Never imports: cmd/..., config, store/..., queue/..., go.etcd.io/bbolt.
//
// # Contract
//
//   - Source.Policy looks up "_mta-sts.DOMAIN" TXT through its Resolver
//     (the project's resolver, mxresolve). A domain without a record and
//     without a cached policy has no policy (opportunistic TLS).
//   - A policy is fetched from https://mta-sts.DOMAIN/.well-known/mta-sts.txt
//     (RFC 8461 §3.3) with a bounded time (Options.Timeout), no redirects,
//     at most 64 KiB, status 200 and media type text/plain; the server's
//     certificate must be valid for the name under Options.RootCAs (nil: the
//     system roots).
//   - Policies are kept in the Cache (the spool) with their fetch time and
//     used until max_age has passed (RFC 8461 §5.1). A cached policy is
//     fetched again when the TXT id differs from its own, and when more than
//     half of its max_age has passed (refreshed before it expires).
//   - A fetch failure never replaces an unexpired cached policy (RFC 8461
//     §5.1): the cached one stays in force, and the Policy's Note says so.
//     A failure with nothing cached is recorded (Policy.Failure,
//     sts-policy-fetch-error or sts-policy-invalid) and the domain has no
//     policy.
//   - Mode enforce: an MX host whose name matches none of the policy's mx
//     patterns fails with validation-failure (RFC 8461 §4.1); a matching
//     one must have TLS with a certificate valid for its name (WebPKI,
//     verified by delivery against its roots: VerifiedMTASTS). Mode
//     testing: the same checks, failures recorded only. Mode none: no
//     policy (the policy is still cached, RFC 8461 §5).
package mtasts
