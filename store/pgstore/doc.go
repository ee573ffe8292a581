// Package pgstore is Outbox's spool in PostgreSQL, for sites that outgrow
// one machine: several Outbox nodes share one database (which the site
// already runs, replicates and fails over), so no node's queued mail is
// stuck on its disk when it dies. It has the API of store.DB (the same
// store.Message, store.Body and errors) and passes the same behavioural
// suite (store/storetest); bbolt stays the default.
//
// It imports pgx and store; it must never import anything about SMTP,
// DNS or the network beyond the database connection, and no pgx type
// appears in its API.
//
// Never imports: cmd/..., config, queue/..., delivery/..., mxresolve/...,
// github.com/emersion/go-smtp, github.com/miekg/dns.
//
// # Durability contract
//
//   - Enqueue returns nil only after COMMIT returned, on a connection with
//     synchronous_commit on (set by Open for every connection, whatever
//     the server's default): the message's row, body and indexes are in
//     the WAL on disk (and on the synchronous standbys the server is
//     configured with). The listener sends 250, the API 202, only then.
//     Concurrent Enqueues (and outcomes) share a transaction (group
//     commit, group.go): each returns once the COMMIT holding its message
//     returned; a message the server refuses fails alone, the others of
//     its group are committed again without it.
//   - A lost connection, a server that shuts down, runs out of disk or is
//     a read-only standby: the error matches store.ErrCommit. The
//     listeners answer 451, the queue pauses its deliveries and probes
//     (Probe: a write transaction) until the database takes commits again,
//     then resumes by itself. Nothing in flight is lost: an outcome that
//     could not be committed leaves the message due again (a duplicate,
//     never a loss), and a COMMIT whose answer was lost may have
//     committed (the 451'd client's retry then duplicates it).
//   - Delivery is at-least-once, as with bbolt: the duplicate window is
//     between a remote 250 and the commit of the outcome.
//   - EnqueueOnce commits the idempotency record in the message's
//     transaction; two nodes racing with one key store one message.
//   - A record that does not decode (written by hand, or by a damaged
//     server) is quarantined where it is met, never a crash.
//
// # Schema
//
// Created and migrated by Open (migrate.go: numbered, embedded SQL files,
// each applied once in a transaction that records it in schema_version;
// an advisory lock serialises nodes starting together; a schema newer
// than the binary is refused). A message is one row of messages: its
// record is store.EncodeMessage's bytes, the same as bbolt keeps, so
// every field (and any field a later version adds to the codec) is kept
// alike by both backends and `outbox spool migrate` copies records
// unchanged. The columns beside it are derived from the record in the
// same statement and carry bbolt's indexes as partial SQL indexes: due
// (due_ns, id), finished, arrival (received_ns, id), notices; and the
// recipients by state and by domain, which Stats sums without reading a
// record (bbolt keeps those counts in memory; several nodes cannot). Bodies and
// their prefixes are rows of bodies (bytea; see bench_test.go for the
// measurement against large objects; stored uncompressed since
// migration 004: pglz spent CPU on every insert for mail that is mostly
// base64 or compressed already); the bounce log, quarantine and
// idempotency records have tables of their own, as have the event log,
// the suppression list, the TLS state and the webhook cursors (below).
//
// # Bodies: bytea, by measurement
//
// A 25 MiB body of base64 (attachments: TOAST cannot compress it), written
// in a committed transaction and read back, on the 2-vCPU development VM
// with PostgreSQL 15 (go test -run '^$' -bench Body25MiB -benchtime 5x
// -benchmem ./store/pgstore/):
//
//	                 time/op   on disk    allocated/op
//	bytea            433 ms    26.0 MiB   106 MB
//	large object     743 ms    33.6 MiB    54 MB
//
// bytea is 1.7x faster and a quarter smaller on disk (a large object is
// stored in 2 KiB pg_largeobject rows), goes with its row (a large object
// outlives a deleted row unless unlinked, and needs its own permissions
// and vacuumlo), and works through any connection pooler. It costs
// memory: the body is held whole on the way in and out (about 4x its size
// in allocations while it moves), where a large object streams. For
// Outbox's 25 MiB limit bytea is the better trade; chunked bytea rows
// would bound the memory if the limit grew.
//
// Accepting 4 KiB messages, storetest.BenchEnqueue on the same VM (both
// backends one after the other, each writing its events; go test -run
// '^$' -bench 'SuiteEnqueue$|Enqueue$' -benchtime 3000x ./store/
// ./store/pgstore/): 1 writer bbolt 1,206 msgs/s, PostgreSQL 1,213; 8
// writers 3,976 and 3,081; 32 writers 10,741 and 3,330 (a pool of 16
// connections: each commit holds one) before the round trips were cut
// and commits grouped (pipeline.go, group.go); since, PostgreSQL
// takes 5,600-5,900 msgs/s from 32 writers in about 0.2 commits per
// message. Each event is a row inserted with the message and updated once
// by the sequencer, off the commit's path.
//
// Message IDs keep store's form and order; their low bits are the node's
// number, so nodes never make the same ID (id.go).
//
// # Several nodes
//
// The queue claims the messages it starts with Claim (FOR UPDATE SKIP
// LOCKED and a lease with a fencing token; lease.go); the outcome commits
// only if the node still holds the lease. A node that dies loses its
// leases when they expire (Options.Lease) and the others deliver its
// messages. Stats, List and the admin commands of any node see the whole
// queue. The claim's statement also reads what the delivery needs: the
// record and a body up to 256 KiB (prefetch.go), and whether the
// suppression list is empty (listcache.go: the look-up before the
// attempt is then no statement); the outcome is one round trip, its
// write fenced on the lease's token and on the record the claim read
// (outcome.go) and shares its commit with concurrent Enqueues and
// outcomes (group.go). A message's life is four round trips of one
// statement each: accept, due look-up, claim, outcome (under load the
// look-ups and claims serve several messages, the commits are shared).
//
// # Everything else the spool holds (migrations 002, 003)
//
//   - Priority lanes: a lane column derived from the record (Priority),
//     leading the index messages_lane_due, so DueLane is one index range
//     per lane, as bbolt's per-lane buckets are.
//   - The event log: store.DeriveEvents' events are inserted by the
//     transaction that records the change (a failed fn, a lost fence or a
//     failed COMMIT writes neither), unnumbered; a sequencer numbers the
//     committed rows from one PostgreSQL sequence, one run at a time
//     across nodes (an advisory lock), so numbers become visible in
//     increasing order and a follower never skips one (events.go). Each
//     run NOTIFYs the last number: EventsAfter wakes on every node's
//     events. Events and EventsJSON first number what is committed, so a
//     reader sees every event committed before its call.
//   - The suppression list and its strike counts, changed by an Update
//     with store.ApplyListings (the rules bbolt applies) in the outcome's
//     transaction, under per-address advisory locks so that concurrent
//     outcomes on several nodes count as one writer would.
//   - (Migration 003) The traffic shapers' budgets, connection slots and
//     reserved rate slots (Budgets, queue/shaping.Ledger) and the
//     destinations found down (Backoffs, queue.DownList), so that the
//     nodes keep one budget per destination and honour each other's
//     back-offs. Their deadlines are the database's clock_timestamp();
//     the budgets' writes skip the WAL flush (synchronous_commit off:
//     shaping state, not mail). See budgets.go for the cost. Each node
//     keeps a view of the destinations down and of which budgets have
//     a record (view.go), loaded once it listens on outbox_shared and
//     kept by the NOTIFY every write to them sends in its transaction:
//     Down, ClearDown of a destination that is up and the admission to
//     an unlimited budget without a record cost no statement. Another
//     node's change reaches the view within a notification's latency
//     (milliseconds); while the listening connection is lost the view
//     is not trusted (the database is read) until it listens again and
//     has reloaded.
//   - The outbound TLS state (MTA-STS policy cache, downgrade memory,
//     TLS-RPT aggregates, merged into by every node) and the webhook
//     cursors, shared by the nodes. The daemon runs webhook delivery and
//     the maintenance jobs (TLS reports among them) on one node at a time
//     (Exclusive).
package pgstore
