// Package store is Outbox's durable spool: message envelopes with their
// per-recipient delivery state, message bodies, the index of next attempts
// and the bounce log, kept in one bbolt file (dir/spool.db) plus one file per
// large body (dir/bodies/ID).
//
// It owns everything on disk under the spool directory and nothing else. It
// imports bbolt and must never import anything about SMTP, DNS or the
// network; no bbolt type appears in its API. Callers (the submission
// listener, the queue, the admin interface) see *DB, Message and the
// functions below.
//
// Never imports: cmd/..., config, queue/..., delivery/..., mxresolve/..., net,
// github.com/emersion/go-smtp, github.com/miekg/dns.
//
// # Durability contract
//
//   - Enqueue returns nil only after the message — envelope, every
//     recipient, and body — is committed and fsynced. The listener sends 250
//     only after that return. A crash at any instant leaves the whole
//     message or nothing.
//   - EnqueueOnce commits an idempotency record (idempotency.go) in the
//     same transaction as its message: a crash leaves both or neither, so
//     a client's retry after a kill -9 finds the first answer or spools
//     the message for the first time, never twice. Records are pruned by
//     PruneIdempotency after their retention.
//   - The event log (events.go) is written in the transaction of the
//     change it reports: Enqueue, EnqueueOnce, Update and Delete derive
//     each recipient's events from the change itself (accepted, delivered,
//     deferred, bounced with its class, delay_warning, held, released,
//     deleted; eventchange.go), so no caller can record an outcome without
//     its event, and a failed fn, a rolled-back batch or a failed commit
//     writes neither. Message.Events (never persisted) lets the caller add
//     what the change cannot show (a bounce's class "suppressed"). Each
//     event takes the next number of the events bucket's sequence, which
//     commits with it: numbers increase across the spool, are never
//     reused (not after a restart, a kill -9 or PruneEvents), and a
//     follower that read up to N and asks for events after N misses none
//     and sees none twice. EventsAfter's channel is closed once a commit
//     that wrote newer events has returned.
//   - TLS reporting aggregates (tlsreport.go) are opaque values per UTC
//     day and policy domain in their own bucket, created by the first
//     write; UpdateTLSReports merges a batch of them in one transaction.
//   - The outbound TLS state (tlsstate.go) lives in buckets of its own,
//     created on first write: cached MTA-STS policies (opaque bytes by
//     domain) and the downgrade memory (one level byte by domain,
//     RaiseTLSLevel only ever raises it, ResetTLSLevel forgets it).
//   - Delivery is at-least-once. An attempt's outcome is recorded by Update
//     after the remote server answered; nothing "in flight" is persisted.
//     The duplicate window is between a remote 250 and our commit of
//     StateDelivered: a crash there (or a failed commit) makes the message
//     due again and the recipient receives it twice. No message is lost in
//     that window.
//   - An Enqueue whose ctx ends while its commit is in flight returns
//     ctx.Err() with the outcome unknown (like a dropped connection); the
//     listener answers 451 and the client retries, so a duplicate is
//     possible, a loss is not.
//   - A failed commit returns an error matching ErrCommit to every request
//     of its batch; what it leaves depends on where it failed (failure.go,
//     verified with strace-injected fdatasync failures). If it failed
//     before its meta page was written (the file could not grow, a page
//     write or the first fdatasync failed) with ENOSPC or EDQUOT
//     (ErrNoSpace), or before anything reached the file,
//     nothing of the batch is visible, nothing committed earlier is
//     damaged, and the DB stays usable. On any other OS error (EIO,
//     EROFS, ...), or on any failure after the meta page was written (its
//     fdatasync failed), the state on disk is unknown and the page cache
//     bbolt reads may show the batch anyway: the DB fails (fail-stop).
//     That and every later read and write return ErrFailed, Failed is
//     closed, and the owner must reopen the file (the daemon exits for a
//     restart). The reopened file holds what reached the disk: a batch
//     whose commit was reported failed may be there, so a message refused
//     with 451 may still be delivered, and its client's retry delivered
//     again. A duplicate, never a loss: every message acknowledged before
//     is on disk.
//   - Open takes bbolt's file lock with a timeout (Options.LockTimeout,
//     default 1s): a second daemon on the same spool fails with ErrLocked.
//   - Open fsyncs the spool directory (and its parent, when Open created
//     it) before anything is committed, so spool.db, the bodies directory
//     and the spool itself survive a power cut (an fsync of a file does not
//     make its name durable). integration/powercut_test.go proves it with
//     power cuts.
//   - Recovery at Open (recover.go): body files without a record are swept;
//     interrupted attempts are simply due again.
//   - A record that does not decode is quarantined where it is met (Get,
//     List, Update, Delete, Prune), removed from the indexes and logged;
//     never a crash or a retry loop. See Quarantined.
//   - A damaged spool.db (bbolt panics on it, or a mapped page past the end
//     of a truncated file faults) is never a crash: Open refuses a file
//     shorter than its meta page says (meta.go), and every call into bbolt
//     runs under a guard (damage.go) that turns a panic or fault into a
//     *DamageError (ErrDamaged) naming the file. The first one marks the DB
//     damaged: every later operation fails with it and Failed is closed.
//     Check (check.go) verifies a stopped spool offline; Salvage
//     (salvage.go) copies what is readable into a new one.
//
// # Indexes
//
// Besides the records, one transaction keeps four indexes in step with
// them, so that no periodic job reads the whole spool: due (next attempt +
// ID: the scheduler's seek, index.go; one per priority lane, lane.go, so
// the scheduler seeks each lane on its own), finished (reception time + ID of
// messages whose recipients are all final: Prune, finished.go), arrival
// (reception time + ID of pending messages: the oldest for Stats,
// arrival.go) and notices (IDs with a bounce notice still to queue:
// start-up recovery, notices.go). The same transaction changes the counts
// behind Stats (stats.go), so a metrics scrape reads no record (Stats: 10
// µs on 100,000 messages); they are taken from the records once at Open
// (BenchmarkOpenRecount: 0.1 s for 100,000 two-recipient messages, 1.1 s
// for a million). Only List with a filter reads every record; it serves
// operators.
//
// # Group commit
//
// Writes go through one committer goroutine (commit.go) that runs every
// pending request in one bbolt transaction and answers them all after the
// commit, so concurrent submissions share the commit's fsyncs. A lone writer
// pays one commit and no added delay (bbolt's Batch would add up to its 10ms
// MaxBatchDelay). A request that fails does not fail its batch.
//
// # Bodies: inline or in files, by measurement
//
// Measured on the development VM (2 vCPU AMD EPYC, virtio disk, ext4; raw
// serial 4 KiB write+fdatasync: 9,300/s, 0.107 ms) with
// go test -bench . -benchtime 1s..2s:
//
//	4 KiB messages           inline in bbolt               file beside it
//	 1 writer                1,510 msgs/s  p99  4.1 ms     645 msgs/s  p99  2.3 ms
//	 8 writers               3,810 msgs/s  p99 10.4 ms   1,080 msgs/s  p99 17.8 ms
//	32 writers              11,450 msgs/s  p99  9.8 ms     910 msgs/s  p99 91.3 ms
//
//	8 writers, by size       inline                        file
//	 64 KiB                  2,070 msgs/s  226 KB alloc/op   840 msgs/s  21 KB alloc/op
//	128 KiB              810-1,280 msgs/s  413 KB           1,000-1,050 msgs/s  17 KB
//	256 KiB                    670 msgs/s  831 KB              710 msgs/s  18 KB
//	  1 MiB                    200 msgs/s  3.2 MB              380 msgs/s  15 KB
//
//	25 MiB, 1 writer         210 ms, 153 MB allocated/op   60 ms, 16 KB allocated/op
//
// A small inline body rides in the batch's shared commit (two fdatasyncs for
// the whole batch); a file body costs its own file fsync and directory fsync
// per message, which does not batch: at 4 KiB inline is 2.3x faster for one
// writer and 12x faster at 32. Large bodies are the opposite: bbolt copies
// the value into its node and again into page buffers (about 3x the body in
// memory), writes it as overflow pages and never shrinks the file, while a
// file is streamed once. The two cross between 128 and 256 KiB. Hence the
// hybrid: bodies up to Options.InlineMax (DefaultInlineMax, 128 KiB: at the
// crossover, with the lower memory cost) are inline in bbolt; larger bodies
// spill to dir/bodies/ID as Body.Write passes InlineMax (never held in
// memory twice), and Enqueue fsyncs the file and the directory before the
// record's commit, so a crash leaves a whole message or an orphan file that
// Open sweeps. OpenBody copies an inline body out and closes its read
// transaction at once, since a long read transaction would block a writer
// that needs to grow the mmap.
//
// A Body knows no backend (BodyOptions: its owner, the directory it
// spills to): store/pgstore, the PostgreSQL spool, makes the same *Body
// over a scratch directory and copies it into its database at Enqueue, so
// the listeners and the queue take *Body from either spool. The
// behavioural tests every backend passes are store/storetest's.
//
// Message.Prefix is bytes that belong before a body but are only known once
// it has streamed (the listener's DKIM-Signature fields). The store keeps
// them opaque, in their own bucket beside the body rather than in the
// record (which List and every attempt decode: a prefix is 0.5-1 KB per
// signature), and OpenBody returns prefix then body; Size counts both.
//
// # Index and records
//
// Message IDs (id.go) are 13 base32hex characters of a strictly increasing
// nanosecond timestamp, so bbolt's key order is arrival order. Records use a
// versioned binary encoding (codec.go: 350 ns encode, 1.6 µs decode for a
// two-recipient record with history). The due index (index.go) has one key
// per pending message, next-attempt time then ID: Due and NextDue are cursor
// seeks, measured flat at 14-24 µs for a 100-ID page with 1k, 10k and 100k
// queued messages. The bounce log (bounces.go) is appended in the same
// transaction that makes a recipient Bounced.
//
// # Suppression list
//
// suppression.go keeps the addresses mail is not attempted to, keyed by
// NormalizeAddress (domain without case, local part exact, RFC 5321
// §2.4), each with its reason, the reply that caused it, the message,
// its time and an optional expiry. An Update's fn adds entries by
// setting Message.Suppress (never stored in the record): they are
// written in the transaction that records the outcome causing them, so
// a crash keeps both or neither. A delivery to an address resets its
// count of consecutive outcomes and removes its automatic entry.
// Deciding which outcomes list an address is the queue's; the store
// only records. The rules (ApplyListings over a ListTx, listing.go) and
// the events of a change (DeriveEvents, eventchange.go) are pure and
// exported, so store/pgstore applies the very same ones in its own
// transactions; EventFeed (eventfeed.go) is the wake-up both backends
// hand followers.
//
// # The event log
//
// Bucket "events" (events.go) holds one entry per recipient and change,
// keyed by the bucket's sequence number, derived from the change in the
// transaction that makes it (eventchange.go; see the durability contract
// above). Events returns a page after a number with a cursor seek;
// EventsAfter hands a follower a channel closed by the commit that writes
// a newer event, so followers (the HTTP feed, the CLI, webhooks) wait
// without polling and without package-level state; PruneEvents drops the
// oldest by time (the time is a fixed prefix of the value, so no JSON is
// read). Event.User (the submitter) is kept beside the JSON, not in it.
// Salvage keeps the numbers (salvage_events.go).
//
// # Webhook cursors
//
// Bucket "webhooks" (webhooks.go), created by its first write, holds one
// small JSON record per webhook endpoint name: the sequence number of the
// last event the endpoint acknowledged, its failed mark and the start of
// its current run of failures (WebhookCursor). PutWebhookCursor goes
// through the group commit like every write, so it shares a commit with
// mail and never holds one up. Salvage does not copy the bucket: a
// salvaged spool's endpoints start again at the oldest kept event
// (duplicates, never a gap).
//
// Its cost, measured on the shared development VM: deriving and encoding
// the events of a two-recipient attempt takes 4.2-4.9 µs and 18
// allocations (BenchmarkEventsUpdate); a lone Enqueue on tmpfs (no
// fsync, so only the CPU shows) went from a p50 of 0.085-0.093 ms to
// 0.092-0.113 ms, and an accept plus delivery (BenchmarkAcceptAndDeliver)
// from 190-211 to 256-262 allocations and 74-82 to 92-94 KB. Against a
// commit's fdatasyncs (0.5 ms and up on disk) that is a few percent; the
// throughput of runs on the shared disk varied six-fold between identical
// runs, more than any difference between the two builds.
//
// # Caveats
//
// The event log is one entry per recipient and change (an accepted event
// is about 220 bytes, a delivered one with its reply, host and TLS about
// 380, before bbolt's overhead): a million recipients delivered a day
// write some 600 MB of events a day, 18 GB at the default 30-day
// retention; set spool.event_retention to what followers need to catch
// up from. After a
// Salvage, each copied message's recipients get an accepted event again.
// bbolt's file never shrinks: space freed by Delete and Prune is reused but
// not returned to the file system (Stats.FileSize). Update's fn runs inside
// the shared write transaction: it must be quick, only modify its message,
// and may be called more than once.
package store
