// Package dsn builds delivery status notifications: the bounce and delay
// messages Outbox sends back to a message's envelope sender.
//
// The queue's scheduler fills a Notice from its records (the original
// envelope, each failed or delayed recipient with its last reply, the
// original header block) and queues the bytes Build returns as a new message
// from the null sender <> to Notice.Sender. This package only formats: it
// never reads the spool, sends mail or logs.
//
// # What a notice looks like
//
// A multipart/report; report-type=delivery-status message (RFC 6522) with
// From "Mail Delivery System <MAILER-DAEMON@host>", a subject saying whether
// mail was returned or delayed, and "Auto-Submitted: auto-replied" (RFC 3834
// §5) so that auto-responders leave it alone. Its parts:
//
//  1. text/plain: our explanation for a person, each recipient with the
//     remote server's reply or the local error;
//  2. message/delivery-status (RFC 3464): Original-Envelope-Id (the ENVID
//     of RFC 3461, when given), Reporting-MTA, Arrival-Date and the
//     extension fields X-Outbox-Queue-ID and X-Outbox-Sender, then per
//     recipient Original-Recipient (the ORCPT, when given), Final-Recipient,
//     Action (failed, delayed, or relayed for a NOTIFY=SUCCESS recipient
//     handed to a next hop without DSN), Status (RFC 3463), Remote-MTA (only
//     for a server's reply), Diagnostic-Code ("smtp; 550 5.1.1 ..." for a
//     remote reply, "X-Outbox; ..." for a local error or decision),
//     Last-Attempt-Date and, when delayed, Will-Retry-Until;
//  3. by default (and with RET=HDRS) text/rfc822-headers: the original
//     header block, never the body (the sender has the body; returning it
//     would only cost size and risk leaking it further), capped at
//     MaxHeaderBytes at a field boundary. With RET=FULL (Notice.Full) a
//     failure notice returns the whole message as message/rfc822 instead,
//     when it is at most MaxReturnBytes of 7-bit text; otherwise the header
//     block, saying why.
//
// # Contract
//
//   - Build fails only on an invalid Notice: ErrNullSender when the original
//     sender is <> (a notice is never sent about a notice, RFC 3464 §2 and
//     RFC 5321 §4.5.5), ErrNoRecipients, or an error wrapping ErrInvalid.
//     None is worth retrying.
//   - The output always parses as MIME (net/mail, mime/multipart), uses CRLF
//     line ends only and has no line over 998 octets (RFC 5322 §2.1.1), for
//     any diagnostic text and any header block: untrusted text is flattened
//     to one line, folded, and long header lines are split into
//     continuation lines. A fuzz target holds it to this.
//   - The MIME boundary never occurs in the content; Notice.Boundary and
//     Notice.MessageID are seams that make the output reproducible.
//
// # Internationalized mail (RFC 6533)
//
// A non-ASCII recipient or diagnostic makes the report
// message/global-delivery-status (report-type=global-delivery-status) with
// "utf-8" address types in the plain utf-8-address form; non-ASCII original
// headers go as message/global-headers. When the sender itself is non-ASCII
// the notice can only travel with SMTPUTF8 (Notice.SMTPUTF8 reports it): its
// parts are then 8bit and its To field raw UTF-8 (RFC 6532). Otherwise the
// non-ASCII parts are quoted-printable and the notice stays 7-bit, so it can
// reach a sender whose server knows nothing of SMTPUTF8 or 8BITMIME.
// Simplifications: invalid UTF-8 in headers and diagnostics is replaced by
// U+FFFD, and the From, Subject and explanation are in English only.
//
// This package imports only the standard library; it must never import the
// store, queue, delivery or config packages, so the scheduler and tests can
// use it with plain values.
//
// Never imports: cmd/..., config, store/..., queue, queue/admin/..., queue/submission,
// queue/maintenance, queue/metrics, delivery/..., mxresolve/....
package dsn
