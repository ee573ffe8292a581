// Package probe is a diagnostic SMTP client: it connects to one server and
// reports what a sender sees there, step by step, as posttls-finger or
// swaks do. It owns nothing but that one session; resolving a domain's MX
// hosts and printing the report are its caller's (cmd/outbox probe).
//
// It speaks SMTP with net/textproto rather than the go-smtp client, because
// the report must show the raw greeting and every EHLO line before and
// after STARTTLS, which go-smtp's client keeps to itself.
//
// Never imports: cmd/..., config, store/..., queue/..., mxresolve, go.etcd.io/bbolt.
//
// # Contract of Probe
//
//   - The session is: greeting, EHLO, then STARTTLS when the server offers
//     it (unless Options.NoTLS) and EHLO again; with Options.ImplicitTLS the
//     TLS handshake comes first (RFC 8314 §3). Then AUTH when a user is
//     given, then a test message when a sender and recipients are given,
//     then QUIT.
//   - The handshake itself verifies nothing, so that a certificate that
//     does not verify can still be shown; the chain is then verified
//     against the host name (or address) with RootCAs, or the system roots
//     when nil, and the outcome is reported in TLS.Verified and
//     TLS.VerifyError. The caller decides what a failure means; the session
//     goes on either way, except that credentials are sent only over TLS or
//     to a loopback address (RFC 4954 §4: AUTH PLAIN and LOGIN expose the
//     password) and never appear in the Report.
//   - With Options.DANE, the chain is also given to that check (the
//     caller's, from the TLSA records it found: RFC 7672) and its outcome
//     reported in TLS.DANE.
//   - Probe always returns a Report holding everything seen up to the
//     failure, and an error when the session did not complete. Every
//     network step is bounded by Options.Timeout and by ctx.
package probe
