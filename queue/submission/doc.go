// Package submission is Outbox's SMTP submission listener (RFC 6409) on top
// of go-smtp: it authenticates clients, checks envelopes and message bytes,
// and hands each accepted message to a Spool (the store itself), then tells
// its Waker (the queue) that a message was committed. It only enqueues;
// delivery is someone else's job.
//
// # Contract
//
//   - 250 after end-of-data only once Spool.Enqueue has returned nil, i.e.
//     the message is durable; the reply text carries the queue ID
//     ("250 2.0.0 Ok: queued as ID"). A spool failure is 451 4.3.0, a full
//     disk 452 4.3.1 — temporary, so the client retries.
//   - Never an open relay: outside Options.Trusted a client must
//     authenticate before MAIL (530 5.7.0). AUTH PLAIN and LOGIN are offered
//     and accepted only over TLS or from a trusted network; wrong
//     credentials are 535 5.7.8 and repeated failures from one address are
//     throttled (454 4.7.0). Passwords are never logged.
//   - Every error reaches go-smtp as an unwrapped *smtp.SMTPError, whose
//     code and text go to the client as is (see replies.go); internal error
//     text is logged, never sent.
//   - Messages with a bare CR or bare LF anywhere, including after a
//     leading dot, are refused (554 5.6.0), against SMTP smuggling, and so
//     are NUL characters; no byte is dropped silently. A framer reads the
//     client's stream under go-smtp (framer.go, gosmtp.go) so that DATA
//     ends where line-based parsers end it, and so that one line rule
//     holds in DATA and BDAT whatever the segmentation: no limit but the
//     message size; command lines at most maxCommandLine. DATA content is
//     dot-unstuffed (RFC 5321 §4.5.2) by dotReader, which yields octet for
//     octet, and error for error, what go-smtp's own reader would, reading
//     its buffer in runs rather than one octet per call.
//   - Limits: size 552 5.3.4 above Options.MaxMessageSize, a message of
//     exactly that size accepted (declared SIZE, BDAT chunks, and our own
//     count); header block 552 5.3.4; recipients 452 4.5.3; malformed
//     addresses 501 5.1.7 (sender) / 5.1.3 (recipient) with the reason.
//     Addresses go-smtp's own parser rejects get its "501 5.5.2 Was
//     expecting ... syntax" instead.
//   - At most AuthMaxFailures passwords are checked per address per
//     window under any concurrency: the attempt is reserved before the
//     compare. Undecodable base64 in AUTH is 501 5.5.2 (RFC 4954 §4).
//   - With Options.Senders, an authenticated user may only use its own
//     envelope senders (and From addresses, if asked): 553 5.7.1.
//   - Replies are held until the server next reads from the client or
//     closes the connection (replybuf.go), so the replies to a pipelined
//     group, or the lines of an EHLO reply, go in one write; none is ever
//     held while the server waits for the client (RFC 2920 §3.2).
//   - Options.DataTimeout bounds a whole DATA or BDAT transfer, wall
//     clock; past it the client gets 421 4.4.2 and is disconnected.
//   - The stored message gets a Received field (RFC 5321 §4.4), and Date and
//     Message-ID (<queueid@hostname>) when it has none. The header block is
//     parsed as it streams; the body is never held in memory.
//   - With Options.Signer (DKIM), the bytes written to the spool are
//     streamed through a Signing at the same time; its header fields are
//     stored as store.Message.Prefix, before the message. A signing
//     failure is 451 4.3.0; a message from a domain without a key is
//     stored unsigned. A message of header fields only is stored with the
//     empty line that ends its header (an empty body), so it is signed.
//   - Every accepted message has lines of at most 998 octets (RFC 5322
//     §2.1.1): body parts with longer lines are re-encoded
//     (delivery/sevenbit) before signing; a header line over 998 octets
//     is refused with 554 5.6.0, and the session goes on. A signed message
//     with an 8-bit body is stored and signed in its 7-bit form, so the
//     signature verifies on every copy, including those sent to servers
//     without 8BITMIME. Re-encoding reads the spooled body back (Body.Open)
//     into a new body with a new queue ID, which its Received and
//     Message-ID fields name; memory stays independent of the size.
//     store.Message.BodyType records what the stored body holds (7-bit or
//     8-bit), whatever BODY= the client declared.
//
// # Per-message at-least-one override
//
// go-smtp answers unknown MAIL parameters with 500 5.5.4 and does not pass
// them to the session, so the override is a header field instead:
// "X-Outbox-At-Least-One: yes" or "no". The listener removes it from the
// stored message and records it in store.Message.AtLeastOne; any other
// value is refused with 554 5.6.0.
//
// # Idempotency keys
//
// A client may add "Outbox-Idempotency-Key: KEY" (1 to 255 printable
// ASCII characters) to a message. The listener removes the field before
// the message is signed or stored, and commits the message with the key
// in one store transaction (store.DB.EnqueueOnce). A resubmission with the
// same key and the same envelope within Options.IdempotencyRetention (the
// client lost our 250) gets "250 ... queued as" the first message's queue
// ID and stores nothing; the same key with another envelope is 554 5.6.0.
// Keys are scoped to the authenticated user, or to all clients trusted by
// their network together. The body is not compared: a client regenerating
// Date or Message-ID still retries the same message.
//
// # Scheduled send and priority: FUTURERELEASE and MT-PRIORITY
//
// go-smtp v0.25 refuses MAIL parameters it does not know and cannot
// advertise extensions of others, so the listener does both under it: the
// framer cuts HOLDFOR, HOLDUNTIL and MT-PRIORITY off each MAIL line before
// go-smtp parses it and the session applies them (mailparams.go), and the
// EHLO reply gains "MT-PRIORITY" and "FUTURERELEASE <Options.MaxHold in
// seconds> <now+MaxHold, RFC 3339 UTC>" (ehlo.go). go-smtp's own MAIL
// parameters work beside them.
//
//   - FUTURERELEASE (RFC 4865): HOLDFOR=seconds or HOLDUNTIL=RFC 3339
//     time is stored as store.Message.DeliverAfter, the recipients due
//     then. A hold longer than Options.MaxHold is 554 5.3.4 "Requested
//     hold time too long" (§5); a malformed value, or both parameters,
//     501 5.5.4; HOLDFOR=0 or a HOLDUNTIL not in the future is no hold.
//     With MaxHold < 0 the keyword is not offered and a hold is 504 5.5.4.
//   - MT-PRIORITY (RFC 6710): -9..9 maps onto the lanes, >0 high, 0
//     normal, <0 bulk (store.Priority); anything else is 501 5.5.4. The
//     lane's default is Options.Priorities' for the user. RFC 6710 §4
//     leaves who may raise a priority to the MSA's policy: an
//     authenticated client gets the lane it asks for; a trusted network
//     without AUTH may lower its lane, never raise it (its request is
//     lowered to the default).
//
// # REQUIRETLS (RFC 8689)
//
// REQUIRETLS is advertised on TLS sessions (go-smtp does so only there)
// and MAIL ... REQUIRETLS outside TLS is refused with 530 5.7.10 (§4.1:
// go-smtp would take it). The flag is stored as store.TLSReqRequire; a
// message without it whose header has "TLS-Required: No" (§5) is stored
// as store.TLSReqOptional.
//
// # DSN parameters and duplicate recipients
//
// DSN (RFC 3461) is advertised. go-smtp checks the syntax of RET, ENVID,
// NOTIFY and ORCPT (501 5.5.4 when malformed) and decodes their xtext; the
// listener records them in store.Message.Ret and EnvID and in each
// store.Recipient's Notify and ORcpt ("rfc822;addr").
//
// A RCPT for a mailbox already in the transaction (the same address, or
// the same local part with the domain in another case: RFC 5321 §2.4
// makes only the domain case-insensitive) is answered 250 like any other,
// as Postfix does, but adds nothing: the first spelling and its DSN
// parameters are kept.
//
// # Listeners and lifecycle
//
// Serve runs plain SMTP with STARTTLS (when Options.TLSConfig is set);
// ServeTLS runs implicit TLS (port 465) by wrapping the listener with
// tls.NewListener. Both share the admission limits of limit.go: a client
// over Options.MaxConnections, over its address's share
// (MaxConnectionsPerClient, ConnectionRate), or untrusted and
// unauthenticated beyond MaxConnections-ReservedConnections is told
// 421 4.7.0 and closed. Untrusted clients before AUTH get PreAuthTimeout
// instead of ReadTimeout, and at most MaxJunkCommands junk commands
// between messages. Shutdown stops
// accepting, waits for open transactions until its context is done, then
// closes every connection — go-smtp's own Shutdown would wait for idle
// connections forever.
//
// # Imports
//
// This package imports store only for its types (Message, Recipient, the
// error sentinels) and talks to storage through the Spool interface it
// defines. It must never import queue, delivery, config or cmd, with one
// exception: delivery/sevenbit, a transformation with no dependency on
// the rest of Outbox, shared with delivery. DKIM signing reaches it through
// its Signer interface, which cmd adapts delivery/dkim to.
//
// Never imports: cmd/..., config, queue, queue/admin/..., queue/dsn, queue/maintenance,
// queue/metrics, delivery, delivery/dkim, delivery/smtptest, mxresolve/....
package submission
