// Package httpapi is Outbox's HTTP submission API: applications hand mail
// over as JSON (POST /v1/messages) instead of SMTP, with the same
// durability and the same limits as the submission listener.
//
// # Contract
//
//   - 202 only once Spool.Enqueue has returned nil, i.e. the message is
//     durable (fsynced), exactly as the SMTP listener's 250; the answer
//     carries the queue ID and each recipient's state. A spool failure is
//     503 (temporary: the client retries), nothing half-written is kept.
//   - Authentication: a client on a loopback address needs no key when
//     Options.TrustLoopback is set (the embedded default, the same trust
//     the SMTP listener gives trusted_networks); every other request needs
//     "Authorization: Bearer KEY" (RFC 6750 §2.1). Keys are known only by
//     their SHA-256 hash, compared in constant time; no key is ever
//     logged. No header is 401, a key that matches none 403.
//   - Each key (and the loopback trust, as one client) has its own token
//     bucket; a request over it is 429 with Retry-After.
//   - The body is JSON or multipart/form-data (RFC 7578, files as bytes);
//     both decode to one request type, so they are checked and built
//     alike. Anything else is 415.
//   - Idempotency-Key: the message and the key's record (the request's
//     hash and the 202 body) are committed in one store transaction
//     (store.DB.EnqueueOnce). A retry with the same key and the same
//     decoded request within Options.IdempotencyRetention gets the first
//     202 again, with Idempotent-Replayed: true, and spools nothing; the
//     same key with another request is 409. Keys are scoped to the client
//     (the API key, or the trusted loopback).
//   - Bad input is 400 with a JSON error naming the field ("to[1]",
//     "attachments[0].content", "raw"); an unknown JSON field is refused
//     too, as is anything but white space after the body's one JSON
//     object (RFC 8259 §2), a member given twice (§4) and invalid UTF-8
//     (§8.1). Member names match fields in any case. The body is decoded
//     in one pass by github.com/go-json-experiment/json (encoding/json/v2).
//     Over Options.MaxMessageSize (the request, or the message built from
//     it) is 413. Nothing is spooled for a refused request.
//   - The message is built with go-message: Date and Message-ID
//     (<queueid@hostname>) are added, Bcc recipients are in the envelope
//     only, never in a header field, and every part is 7-bit
//     (text as it is when it is 7bit data already, RFC 2045 §2.7, else
//     quoted-printable; base64 attachments), so a DKIM signature
//     survives every hop. A raw message's parts with 8-bit octets or long
//     lines are re-encoded (delivery/sevenbit), as the SMTP listener does. Header lines stay within 998 octets
//     (RFC 5322 §2.1.1).
//   - With Options.Signer (DKIM), the message is signed with the keys SMTP
//     submissions are signed with: the signature covers exactly the stored
//     bytes, its header fields are stored as store.Message.Prefix; a
//     message from a domain without a key is stored unsigned.
//   - Per-message options: deliver_after (RFC 3339, at most Options.MaxHold ahead;
//     past means at once) is stored as store.Message.DeliverAfter with
//     every recipient due then, so the message waits in the due index;
//     expire_at (later than now and deliver_after) as ExpireAt; tags and
//     metadata, bounded in count and size, as Tags and Metadata;
//     require_tls as store.TLSReqRequire (REQUIRETLS, RFC 8689), else a
//     "TLS-Required: No" header field as store.TLSReqOptional. A bad
//     value is 400 naming the field.
//   - priority ("high", "normal", "bulk"; store.Priority) is the
//     message's delivery lane; ignore_suppressions (or a Key with
//     IgnoreSuppressions) sets store.Message.IgnoreSuppressions, so its
//     recipients are attempted even when on the suppression list.
//   - The suppression list (Options.Suppressions): GET /v1/suppressions
//     lists it a page at a time, POST adds a manual entry (201), GET and
//     DELETE /v1/suppressions/{address} show and remove one (404 when
//     the address has none). The list is the server's, shared by every
//     client with access to the API; addresses are normalised as the
//     store does (store.NormalizeAddress). Errors name their field as
//     for messages.
//   - GET /v1/messages/{id} shows only a message the same client (key,
//     or the trusted loopback) submitted; any other ID is 404.
//   - GET /v1/events?after=SEQ&limit=N&wait=D (events.go) reads the
//     store's event log (store.Event, whose JSON is the answer's shape)
//     through the Events interface: the events numbered above after of
//     the client's own messages (the same scope as GET /v1/messages/{id}),
//     at most limit (1-1000, default 100), and next, the number to resume
//     from, which also moves past other clients' events. With wait (a
//     duration or seconds, at most MaxEventsWait and less than the write
//     timeout) an empty answer waits on the store's EventsAfter channel,
//     not by polling, and answers as soon as an event of the client is
//     committed, or empty at the deadline or when Shutdown starts. A bad
//     parameter is 400 naming it.
//   - The server has read, write and idle timeouts and serves at most
//     Options.MaxConnections connections at once.
//
// # Imports
//
// It imports store only for its types and talks to storage through the
// Spool interface it defines; the queue is reached through Waker. Of
// delivery it uses only delivery/sevenbit, a transformation with no
// dependency on the rest of Outbox (as the SMTP listener does).
//
// openapi.json describes the API (OpenAPI 3.1) and is served, without a
// key, at GET /v1/openapi.json; a test holds its request schemas to the Go
// types.
//
// GET /v1/messages/{id} answers what `outbox queue show --json` prints,
// with the admin package's wire types, for the client's own messages.
//
// Never imports: cmd/..., config, queue, queue/admin/admintest, queue/submission, queue/dsn, queue/maintenance, queue/metrics, delivery, delivery/dkim, delivery/smtptest, mxresolve/....
package httpapi
