// Package delivery makes outbound SMTP transactions: one Deliver call takes
// one Envelope (a sender and the recipients of one domain) to the domain's
// MX hosts or to a smarthost relay, and reports the outcome of every
// recipient.
//
// # What it owns
//
// Routes (direct to MX, or a relay with its servers), sessions (dial,
// greeting, EHLO, STARTTLS or implicit TLS per policy, AUTH), the
// transaction (MAIL, RCPT, the at-least-one decision, DATA), connection
// reuse with an idle limit, concurrency limits, and the deadline of every
// network step. It uses mxresolve for MX lookups, and the go-smtp client to
// set sessions up (greeting, EHLO, AUTH); the commands and replies of the
// transactions are its own (wire.go), so that they can be pipelined.
//
// It must never import the store, the queue or config: the queue calls
// Deliver and commits the Result; delivery knows nothing about durability.
// It shares delivery/sevenbit with the listener.
//
// Never imports: cmd/..., config, store/..., queue/..., go.etcd.io/bbolt.
//
// # Contract
//
//   - Deliver never fails as a whole. Its Result has exactly one RcptResult
//     per Envelope.Rcpts, in order, each Delivered, Deferred or Bounced.
//   - It returns as soon as the reply to the final dot is read: the caller's
//     commit follows immediately, keeping the duplicate window (remote 250
//     → our commit) minimal. A session whose transaction ended with the
//     final dot goes back to the pool at once; one left in a transaction
//     is pooled after an RSET in the background, and QUIT happens there
//     too; Shutdown waits for them. Between the transactions of one
//     Deliver call, the RSET goes with the next transaction's commands.
//   - A Deliverer is built by New from Options and does not change while
//     it runs, except for its routes and relays: SetRoutes swaps them as
//     one snapshot, which the next Deliver uses and Routes returns.
//   - A connection lost (or timed out) after the final dot defers the
//     recipients with Result.Ambiguous set: the message may have been
//     delivered, and delivery is at-least-once.
//   - Result.DestinationDown is set when no host (MX address or relay
//     server) could be brought to the point of MAIL: connect failure, TLS
//     failure per policy, 421/4xx/5xx greeting, AUTH failure. The caller
//     backs off the whole destination.
//
// # Failover
//
// MX hosts are tried in the resolver's order (the resolver caps how many:
// mxresolve.Resolver.MaxHosts), each host's
// addresses in order; relay servers in their configured order (the Tcl smtp
// package's -servers). The next one is tried on connect failure, TLS failure
// (per policy), a 4xx or 5xx greeting or EHLO reply, and a failed AUTH. A
// 5xx greeting moves on too rather than bouncing: one host refusing service
// says nothing final about the destination. Once MAIL has been sent, the
// outcome is final for the attempt: no other host is tried.
//
// A permanent mxresolve error (NXDOMAIN, null MX RFC 7505 → 5.1.10) bounces
// every recipient without any connection; a temporary one defers them.
//
// # Per-recipient outcome and at-least-one
//
// Each RCPT reply is recorded for its recipient: 2xx accepted, 4xx (or
// none) Deferred, 5xx Bounced. Envelope.AtLeastOne is the Tcl smtp
// package's -atleastone: DATA is sent only when at least one recipient was
// accepted and either none was rejected or AtLeastOne is set; otherwise RSET,
// and the accepted recipients are Deferred together with the 4xx ones
// (see decide). The reply to the final dot then decides for the recipients
// that received DATA: 2xx Delivered, 4xx Deferred, 5xx Bounced. MAIL FROM
// refused: 4xx defers every recipient, 5xx bounces every one.
//
// Local decisions recorded as replies without a code (Reply.Code 0, as for
// DNS failures), so a bounce names no remote server and quotes no reply it
// never sent: a message that needs SMTPUTF8 (a non-ASCII envelope address,
// or Envelope.SMTPUTF8 with a non-ASCII header field; only the header block
// is read) sent to a server without it bounces with 5.6.7 (RFC 6531 §3.2;
// no downgrade); a message larger than the server's advertised SIZE
// bounces with 5.3.4. The SMTPUTF8 parameter alone, on an all-ASCII
// message, is dropped for a server that does not offer the extension.
//
// # Recipients per transaction
//
// One transaction carries at most Deliverer.MaxRcptsPerTx recipients (50,
// as Postfix's smtp_destination_recipient_limit). A server that refuses a
// RCPT with 452 4.5.3 "too many recipients" (RFC 5321 §4.5.3.1.10; or 552,
// which the RFC says to read the same way) after accepting at least one
// ends the recipient list of that transaction: the accepted ones get DATA,
// the rest follow at once in further transactions, on the same session
// (RSET first when no DATA was sent), or on a new one when the session
// broke. They are never deferred for it. Each transaction takes its own
// at-least-one decision.
//
// # PIPELINING (RFC 2920)
//
// To a server that offers PIPELINING, a transaction is two writes: RSET
// (when the previous transaction of the same delivery ended without
// DATA), MAIL, the RCPTs and DATA
// in one, the message and its final dot in the other; the replies are read
// in order and matched to their commands, so every rule above holds as in
// lock-step. RCPTs go at most 100 ahead of their replies (a longer list a
// window at a time), so that neither side can block writing while the
// other does. DATA stays out of the group of an all-or-nothing transaction
// of several recipients: a 354 could then not be taken back. When no
// recipient was accepted, the reply to the pipelined DATA is read all the
// same (§3.1): a refusal (503, 554) leaves the session usable; a 354 gets
// a single dot, which delivers nothing, and the session is closed. After a
// refused MAIL, the replies to the RCPTs and DATA that followed it are
// read, so the session stays in step. A server without PIPELINING gets
// one command per write, each reply awaited. Commands and the message go
// through one buffered writer, flushed only when a reply is needed.
//
// # DSN (RFC 3461)
//
// Envelope.EnvID, Envelope.Ret and each recipient's NOTIFY and ORCPT
// (Envelope.DSN) are passed to a server that offers DSN, and left out for
// one that does not. RcptResult.NextHopDSN records that a delivered
// recipient's server took them: any success notice is then that server's
// to send.
//
// # TLS
//
// TLSPolicy: none; opportunistic (default for MX: STARTTLS when offered,
// certificate not required to verify, and if the handshake fails the host is
// retried in plain text and it is logged); required (encrypted or the host
// fails); verify (certificate valid for the MX host name or relay host
// name; default for relays). Result.TLS records version, cipher and whether
// the certificate verified ("TLS1.3 TLS_AES_128_GCM_SHA256 verified").
//
// # TLS policies: MTA-STS, DANE, downgrade memory, REQUIRETLS
//
// For a direct route, Options.TLSPolicies (a tlspolicy.Source; DANE and
// MTA-STS plug in here, combined with tlspolicy.Chain) decides the
// destination's policy once per attempt, and its HostChecker each MX host:
// a host the policy rules out is skipped under an enforced policy (and only
// recorded in testing mode, RFC 8461 §5); an enforced policy requiring TLS
// turns the host's TLS policy into verify, with the policy's own Verify (a
// TLSA match) or the WebPKI check for the MX name against RootCAs. No usable
// host, or a policy that cannot be determined, defers every recipient with
// 4.7.5 (RFC 8461 §5.1: a temporary failure; the queue bounces at the end
// of the lifetime). See package tlspolicy for the seam.
//
// Options.TLSMemory is the downgrade memory: after a session is opened its
// level (plain, encrypted, verified) is raised in the memory, and a later
// attempt requires at least the level remembered (verified → verify,
// encrypted → required), failing the host with "TLS downgrade refused"
// until an operator resets the domain.
//
// Envelope.RequireTLS (RFC 8689): only with an enforced MTA-STS or DANE
// policy (5.7.10 bounce before any connection otherwise), never on a pooled
// session, only to a host whose certificate the policy verified and that
// offers REQUIRETLS (a 5.7.10 local bounce otherwise), with the REQUIRETLS
// MAIL parameter. Envelope.TLSRequiredNo ("TLS-Required: No", RFC 8689 §5)
// turns enforcement and the downgrade memory off for the message; failures
// are still recorded. Through a relay, REQUIRETLS needs a server used with
// TLS policy verify.
//
// Result.TLSOutcome records every attempt's TLS outcome: version, cipher,
// what verified the peer (none, webpki, mta-sts, dane), the policy type,
// mode and domain, and the RFC 8460 §4.3 failure type of a failure (of the
// host that decided the attempt, or a non-enforced one that was let pass).
// Options.TLSReporter, when set, gets the outcome of every session opened
// with an MX host and of every MX session that failed at a TLS step (not
// of pooled sessions reused): the counts of TLS reporting (RFC 8460).
//
// go-smtp's client says EHLO "localhost" before STARTTLS, has no STARTTLS
// for a greeted client and reports a bad certificate only at the next
// command; so STARTTLS is issued here, the handshake runs explicitly under
// its own timeout, and EHLO is sent again with Hostname (RFC 3207 §4.2).
//
// # AUTH (relays)
//
// The strongest offered mechanism is chosen: CRAM-MD5, then PLAIN, then
// LOGIN. PLAIN and LOGIN are never sent over an unencrypted connection
// unless the relay's TLSMode is explicitly TLSModeNone. A failed AUTH is a
// configuration problem on our side: it is logged at error level, the next
// server is tried, and the recipients are deferred — never bounced. A
// session logs in once and carries several messages while pooled.
//
// # Timeouts
//
// Every network step has a deadline (RFC 5321 §4.5.3.2): connect, TLS
// handshake, greeting 5m, MAIL 5m, RCPT 5m, DATA 2m, each data block 3m,
// final dot 10m. The connection is wrapped (deadlineConn): go-smtp's client
// sets its own deadlines during setup, and a pipelined group is one write
// followed by several replies, so the session sets the phase before each
// step and every write re-arms it. Cancelling the context aborts any step
// at once.
package delivery
