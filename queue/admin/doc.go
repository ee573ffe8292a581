// Package admin is the daemon's operator interface: an HTTP+JSON API served
// on a Unix socket, and the client the outbox CLI uses to call it.
//
// bbolt lets only one process open the spool, so the CLI cannot read the
// queue itself; it asks the running daemon. The socket is created with mode
// 0600 (see Listen) so only the daemon's user can reach it: the API can
// delete mail, and it has no password of its own. Access (access.go) opens
// it to an admin group and a read-only group; then the kernel's credentials
// of the connecting process (SO_PEERCRED, SO_PEERGROUPS) decide each
// request, and every change is logged with the peer's uid.
//
// Contract:
//   - The server reaches the queue only through the Queue interface defined
//     here; queue.Ops implements it and cmd/outbox wires the two. The
//     server is built by New and follows net/http: Serve until Shutdown.
//   - Every operation is POST /v1/OP with a JSON body. Request decoding is
//     strict: unknown fields, trailing data and bodies over MaxRequestBytes
//     are rejected with 400/413 before the queue is touched.
//   - The wire types (Message, Recipient, Attempt, Bounce, Quarantined) have stable
//     lower-case field names, states as their names ("deferred") and times
//     in RFC 3339; they are also the schema of the CLI's --json output.
//   - store.ErrNotFound from the queue is HTTP 404 with code "not_found";
//     the client turns it back into an error matching store.ErrNotFound.
//   - POST /v1/tls lists the TLS downgrade memory (Options.TLS) and, with
//     "reset", forgets one domain first; 404 when the memory is off.
//   - A client whose socket is missing or refuses connections returns an
//     error matching ErrNotRunning.
//
// It sees the queue only through Queue and plain store types: it never
// imports the queue, delivery or config packages, nor bbolt itself (the
// store, whose types it uses, does).
//
// Never imports: cmd/..., config, queue, queue/dsn, queue/submission, queue/maintenance,
// queue/metrics, delivery/..., mxresolve/....
// Never imports directly: go.etcd.io/bbolt.
package admin
