// Package maintenance runs the daemon's scheduled jobs with robfig/cron:
// pruning finished messages and old bounce log rows, delay warnings to
// senders, spool statistics with a compaction hint, and an optional sweep
// of the whole queue.
//
// Every job is wrapped in cron.Recover (a panic is logged, the daemon
// lives) and cron.SkipIfStillRunning (a run still going when the next is
// due skips it, so a job never overlaps itself). Each job is also a method
// (Prune, DelayWarnings, Stats, Sweep) that tests and operators can call
// directly, with the clock in Options.Now.
//
// It sees the spool and the queue through the interfaces below, never
// config (cmd maps the configuration onto Options) nor delivery. Delay
// warnings honour each recipient's NOTIFY (RFC 3461 §4.1: only DELAY or
// none given asks for one) and carry ENVID and ORCPT; they are built with
// queue/dsn (Action Delayed) and queued from the
// null sender through the queue, like bounces; store.Message.DelayWarned
// makes them once per message. The flag is set after the notice is queued:
// a crash in between sends the warning twice rather than never.
package maintenance
