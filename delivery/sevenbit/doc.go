// Package sevenbit makes the 7-bit form of a message: every MIME leaf part
// with 8-bit octets or lines over 998 octets is re-encoded as
// quoted-printable or base64, so that the message can cross a server
// without 8BITMIME (RFC 6152 §3) and meets the line limit of RFC 5322
// §2.1.1 and RFC 5321 §4.5.3.1.6. It has one job and no state; go-message
// parses the MIME structure, the standard library encodes.
//
// # Who uses it
//
//   - The submission listener streams every message through a Scanner
//     beside the spool. When the body has 8-bit octets and the message is
//     to be DKIM-signed, or has lines over 998 octets, it converts the
//     message at acceptance and signs the 7-bit form: every copy then
//     carries the same bytes, whichever server it goes to, and the
//     signature verifies on all of them.
//   - Delivery converts on the fly, while sending DATA, an unsigned 8-bit
//     message to a server that does not offer 8BITMIME. Such a message has
//     no signature to break.
//
// # Contract
//
//   - Convert reads its input through an Opener, twice: a planning pass
//     measures each leaf part (8-bit octets, NUL, line lengths), the second
//     writes the result. Nothing is buffered but a few small bufio buffers,
//     so memory does not depend on the message size (a 25 MiB message is
//     read twice from the spool instead). A message that needs nothing is
//     copied unchanged, and Convert says so.
//   - Only what needs it changes: a leaf is re-encoded when it has 8-bit
//     octets or a long line; 7-bit parts (a multipart/signed's content, for
//     one) are copied byte for byte. Quoted-printable for text with at most
//     one 8-bit octet in six (where it is no larger than base64), base64
//     otherwise; a part already in base64 or quoted-printable keeps its
//     encoding (base64 without line breaks is re-wrapped at 76). Parts in
//     other encodings (x-uuencode) are left alone.
//   - Header fields are never re-encoded: a header line over 998 octets is
//     ErrLongHeaderLine. The only header changes are the re-encoded parts'
//     Content-Transfer-Encoding, composite parts labelled 8bit or binary
//     relabelled 7bit (RFC 2045 §6.4), and MIME-Version and Content-Type
//     (text/plain, with us-ascii, utf-8 or unknown-8bit, RFC 1428) added
//     to a non-MIME message that is re-encoded. Preambles and epilogues of
//     multiparts are dropped (RFC 2046 §5.1.1: to be ignored).
//   - Unparseable structure is ErrMalformed; the caller decides (keep the
//     message as it is, or refuse it).
//   - The 7-bit form is a fixed point: converting it again changes nothing.
//
// # Imports
//
// Only go-message and the standard library; it must never import anything
// of Outbox, so both the listener and delivery can use it.
//
// Never imports: cmd/..., config, store/..., queue/..., delivery/..., mxresolve/....
package sevenbit
