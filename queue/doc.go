// Package queue schedules delivery of the spooled messages: it is the part
// between the spool (package store) and outbound SMTP (package delivery).
// Its Ops carry out the operator's queue commands.
//
// # What it owns
//
//   - The scheduler (Queue.Run, Queue.Shutdown). One dispatcher goroutine
//     pulls due message IDs from the store's due index (Store.Due; on a
//     spool shared by several nodes, Claimer.Claim, which also leases
//     them to this node: claim.go), never
//     more than there are free workers and skipping messages in flight, and
//     hands them to a fixed pool of Options.Workers goroutines. Between
//     pulls it waits on one reusable timer armed for Store.NextDue, or for
//     a wake-up: Spooled (the listener committed a message), Flush and
//     Release wake it, so a fresh message is delivered at once, and so
//     does a worker finishing. No goroutine
//     sleeps per message and nothing polls.
//   - Priority lanes (lanes.go). The store keeps one due index per lane
//     (store.Priority: high, normal, bulk); each fill asks every lane for
//     its due messages (Store.DueLane) and shares the free workers among
//     them by stride scheduling, 8 : 3 : 1, so high mail goes first when
//     capacity is short and no lane starves.
//   - The suppression list (suppress.go, Options.Suppressions). Before an
//     attempt, due recipients whose address has an active entry are not
//     attempted: they bounce at once (class suppressed, 5.7.1, no SMTP
//     code), with a notice to the sender only when their NOTIFY asked for
//     failures explicitly; a message with IgnoreSuppressions skips the
//     check. An outcome lists its address in the same Store.Update that
//     records it: a 5xx refusal of that recipient at RCPT TO with 5.1.0,
//     5.1.1, 5.1.3, 5.1.6 or 5.2.1, or a null MX (5.1.10), at once (never
//     a policy 5.7.x, content 5.6.x or whole-transaction refusal);
//     an expiry after Options.SuppressAfterExpirations consecutive ones.
//   - One attempt (attempt.go). A worker loads the message, takes its
//     queued or deferred recipients whose NextAttempt has come, groups them
//     by lower-cased destination domain (groupByDomain) and makes one
//     Deliverer.Deliver call per group, one group after the other (the pool
//     then bounds SMTP sessions exactly). Right after Deliver returns, and
//     with nothing in between, the outcome is committed with Store.Update:
//     the time between a remote 250 and that commit is the only duplicate
//     window (store/doc.go); the commit uses a context detached from
//     shutdown so stopping cannot widen it.
//   - A scheduled message (store.Message.DeliverAfter) is enqueued with
//     its recipients due at DeliverAfter: it waits in the store's due
//     index like any deferred recipient, with no timer or goroutine of
//     its own, and is not attempted before then.
//   - Per-recipient outcome: delivered and bounced are final; deferred
//     recipients get NextAttempt from Backoff (first retry FirstRetry,
//     doubling, ±10 % jitter, capped at MaxRetryInterval, integer Duration
//     arithmetic), but never later than the message's deadline:
//     Start+MaxLifetime (Start is the scheduled send time DeliverAfter
//     when later than reception, else reception), or the message's own
//     ExpireAt when earlier. A temporary failure once the deadline is
//     reached bounces the recipient as
//     expired: LastReply "4.4.7 delivery time expired; last error: ...",
//     and a history entry with enhanced code 4.4.7 and no SMTP code (the
//     bounce-log row is made from it by the store). When the last failure
//     was a security one (4.7.x: a TLS policy not met, deferred as RFC
//     8461 §5.1 asks), the expiry carries its permanent form, 5.7.x.
//   - Every history entry keeps the attempt's TLS outcome beyond
//     version and cipher (store.AttemptTLS: verified by, policy, RFC 8460
//     failure), and a message's TLSReq (REQUIRETLS, TLS-Required: No)
//     goes to delivery in the Envelope.
//   - Destination back-off (destination.go), in a DownList: this
//     process's memory by default, or Options.DownList, shared by the
//     nodes of one database. When a Result says DestinationDown the
//     domain waits until the earliest retry of that attempt's deferred
//     recipients; the queue's other messages for it are deferred to that
//     time without an attempt (Attempts unchanged; Stats.DestinationSkips).
//     A delivery that gets through, and a flush of a message, a domain or
//     all, lift it. A DownList that cannot be read defers the group (30s)
//     rather than attempt a destination another node found down.
//   - Traffic shaping (shape.go), with Options.Shaper (queue/shaping):
//     before each group's Deliver the queue resolves its destination's
//     budget and asks the shaper. Go delivers (with the budget's
//     recipients per transaction and messages per connection in the
//     Envelope) and tells the shaper the outcome after the commit, so its
//     temporary replies drive the adaptive reaction. A budget whose
//     connections are all in use parks the message: it stays due in the
//     spool, the dispatcher skips it, and the end of a delivery to that
//     budget unparks it and wakes the dispatcher (a shaper shared by
//     several nodes also unparks it after a recheck time, Shaper.Recheck,
//     since another node's connection ending wakes nothing here). A rate
//     slot or a
//     suspension defers the group to that time without an attempt
//     (Attempts, LastReply and History unchanged; Stats.Throttled), never
//     past the message's deadline, where it expires as any message does.
//   - Explanations (explain.go): Ops.Explain says why each pending
//     recipient waits and until when (held, scheduled, in flight, a
//     shaping wait, destination down, DNS failing, back-off, due), and
//     Ops.Throttles lists the destinations the shaper holds back.
//   - Failed outcome commits, in memory (commitfail.go): when Store.Update
//     cannot record an attempt's outcome, the message is still due in the
//     spool; it is skipped until a back-off (1s doubling to 5m, per
//     message) has passed, so a remote server that accepts it is not sent
//     it again in a loop. When the error is the spool's (store.ErrCommit:
//     disk full, I/O error; from an outcome or reported by Spooled), no
//     delivery starts until a commit succeeds again: any outcome, Spooled
//     or Flush,
//     or the dispatcher's Store.Probe at growing intervals. The pause is
//     logged at ERROR once and shown in Stats (DispatchPaused,
//     CommitFailures, CommitBackoff).
//   - The start-up spread: for Options.Warmup after Run starts (default one
//     minute) the dispatcher starts at most 1 + elapsed·WarmupRate/s
//     deliveries in total (WarmupRate defaults to Workers), so a spool full
//     of overdue mail after a restart ramps up instead of firing at once. A
//     rate and not a concurrency cap: fast deliveries would otherwise still
//     release the backlog in a burst.
//   - Delivery status notifications (RFC 3464). When a recipient bounces,
//     the message's sender is not null and Options.DSN is on, the Update
//     that bounces also sets DSNPending; then the notice is built with
//     queue/dsn (notice.go, Reporting-MTA Options.Hostname), spooled from
//     the null sender <> to the sender, and a second Update clears
//     DSNPending and sets DSNID. Delay warnings take the same path
//     (WarnDelay); queue/maintenance decides when to call it. Run
//     retries notices left pending by a crash (at worst one duplicate,
//     never a lost one); the recipients it is about are those of the latest
//     bounce batch (one attempt stamps its recipients with one time). One
//     notice per bounce batch; never one for a message from <>.
//   - The DSN extension (RFC 3461). Each recipient's NOTIFY decides
//     (noticeOwed): without it, failures are notified; NEVER, or a list
//     without FAILURE, means no bounce notice; SUCCESS asks for a notice
//     when delivered, which the queue sends ("relayed", RFC 3461 §6.2.1)
//     only when the next hop did not offer DSN: one that did received the
//     parameters (the message's EnvID and Ret, each recipient's Notify and
//     ORcpt go into the Envelope) and sends its own "delivered" notice.
//     One attempt's failures and relays share one notice. A relayed notice
//     lost to a crash between the commit and the notice is not recovered:
//     whether the next hop took the request is not kept in the spool.
//   - Events (events.go): every outcome, deferral, hold, release and
//     delete the queue records becomes its recipients' events in the
//     store's event log, derived by the store in the same Update from the
//     change and from the History entry the attempt appended (reply, host,
//     TLS, attempt number; a bounce's class by store.BounceClass, the
//     classes Stats.BouncedBy counts). A delay warning lists the
//     recipients it reported in store.Message.Events.
//   - The operator's commands used by queue/admin (Ops, from Queue.Ops):
//     List, Get, Headers, OpenMessage, Flush, FlushDomain, FlushAll, Hold,
//     Release, Delete, Bounces, Quarantined, SpoolStats (the store's count,
//     store.Stats), Explain and Throttles (explain.go), and Bulk: hold, release, delete, flush or requeue of a
//     selection (IDs, or a store.Filter) in one call, its writes issued
//     with at most 256 in flight so that the store's group commit makes
//     few transactions, none larger than its batch bound. A requeue also
//     drops every destination's back-off.
//
// The listener does not go through the queue: it writes to the store and
// tells the queue with Spooled (its Waker). The listener's traffic
// counters (connections, accepted messages) are cmd's, not the queue's.
//
// # What it must never import
//
// It sees the spool through its Store interface and SMTP through its
// Deliverer interface, both defined here and satisfied by *store.DB and
// *delivery.Deliverer; it imports store and delivery for their types only,
// and never bbolt, go-smtp or the network itself. It imports queue/dsn to
// build notices and queue/shaping for the shaper's types. The packages that serve the operator, the listener and the
// scheduled jobs sit beside it or above it: queue/admin and
// queue/submission do not import it (cmd wires them to it), and
// queue/maintenance and queue/metrics do, so it never imports any of them.
//
// Never imports: cmd/..., config, queue/admin/..., queue/submission, queue/maintenance,
// queue/metrics.
// Never imports directly: go.etcd.io/bbolt, github.com/emersion/go-smtp, github.com/miekg/dns,
// net.
//
// # Contract
//
//   - Delivery is at least once: an outcome is recorded only after Deliver
//     returns; a crash before the commit, or a commit that fails, re-sends
//     the recipients it did not record as delivered (after a failed
//     commit, only once its back-off has passed and the spool accepts
//     commits again).
//   - Cancelling Run's context is a hard stop: in-flight deliveries are
//     cancelled and abandoned to the queue (their recipients stay due, not
//     counted as an attempt; outcomes already known are recorded). Shutdown
//     is the graceful stop, as http.Server.Shutdown: stop claiming work,
//     drain in-flight deliveries until its context ends, then abandon.
//   - All time comes from Options.Clock and all randomness from
//     Options.Rand, so tests drive retries and expiry with a fake clock.
package queue
