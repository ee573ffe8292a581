// Package shaping is the per-destination traffic shaper of the queue: it
// decides, before each delivery, whether a destination's budget lets it
// start now, and it lowers or suspends a destination that answers "slow
// down".
//
// # What it owns
//
//   - Budgets (Rule, Limits): a rule gives every recipient domain it lists,
//     and every domain whose primary MX host is under one of its MX
//     suffixes, one shared budget (gmail.com, googlemail.com and every
//     Google-hosted domain count together): concurrent connections,
//     messages per connection, messages per minute and per hour (evenly
//     spaced slots, GCRA), recipients per transaction. Presets are the
//     built-in rules for the big providers, each citing the provider's
//     published guidance (preset.go). A domain no rule matches has a
//     budget of its own, limited only by the adaptive reaction.
//   - Admission (Shaper.Admit): Go (a connection is counted until
//     Finish); Park (every connection in use: the message waits without a
//     timer until Finish wakes it); or a time to defer the group to: a
//     rate slot reserved for that message (so it starts then without
//     competing again) or the end of a suspension.
//   - The adaptive reaction (reaction.go, adaptive.go): the first reply of
//     an attempt that matches the table (Gmail 421 4.7.28 and 450 4.2.1,
//     Yahoo 421 [TS..], Outlook 451 4.7.5xx, "rate limit" texts, any 421)
//     halves the destination's rate (multiplicative decrease; replies
//     within a sixth of the recovery step count once), and a Suspend row,
//     or a reply that names a time ("try again in 5 minutes", capped at
//     6h), stops the destination until then. Each quiet recovery step
//     gives back a tenth of the rate (additive increase) until it is whole
//     again. A reaction voids the slots reserved at the old rate.
//   - Explanations (Wait, Status): why a message or destination waits, by
//     which rule, since when, and the reply that caused it.
//
// Bounce notices and delay warnings are mail like any other to their
// destination: each costs one message of its budget, never more.
//
// Shaper keeps all state in memory, lost on restart on purpose: the
// queue's start-up spread softens the first minute, and a stale
// suspension would only delay mail. Deferred messages keep their spooled
// due time.
//
// # Several nodes (shared.go, ledger.go)
//
// Shared is the shaper of nodes sharing one database: the same policy,
// with each budget's state (rate slots, adaptive rate, suspension, the
// slots reserved for messages) kept as a record in a Ledger and the
// connections as slots with an owner and an expiry there, so N nodes
// together keep one budget. The ledger's clock (the database's) is the
// clock of every shared deadline; Shared converts to and from the
// caller's clock by the offset between them. An admission is one ledger
// transaction (read-only for a budget no rule limits, until a reply
// slows it). A message parked behind connections that only other nodes
// hold is rechecked after SharedOptions.Recheck. A ledger that fails
// defers the message (WaitUnavailable): never a limit exceeded because
// the database is away. Messages per connection and recipients per
// transaction are per session, hence per node. The adaptive base of a
// budget without a configured rate is the reacting node's observed rate.
//
// # What it must never import
//
// It is pure policy over times passed in by the caller: no store, no
// delivery, no network (MX names come through Options.Lookup).
//
// Never imports: cmd/..., config, store/..., delivery/..., queue, mxresolve/..., net.
package shaping
