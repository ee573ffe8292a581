// Package maintenance runs the daemon's scheduled jobs with robfig/cron:
// pruning finished messages and old bounce log rows, delay warnings to
// senders, spool statistics with a compaction hint, and an optional sweep
// of the whole queue.
//
// Every job is wrapped in cron.Recover (a panic is logged, the daemon
// lives) and cron.SkipIfStillRunning (a run still going when the next is
// due skips it, so a job never overlaps itself). On a spool shared by
// several nodes (Options.Exclusive: store/pgstore's advisory lock) a job
// another node is running is skipped here, so no two nodes send the same
// delay warning. Each job is also a method
// (Prune, DelayWarnings, Stats, Sweep) that tests and operators can call
// directly, with the clock in Options.Now. The Runner's lifecycle is the
// daemon's other parts': New, Run until Shutdown, which waits for a job
// in progress.
//
// It sees the spool and the queue through the interfaces below, never
// config (cmd maps the configuration onto Options), delivery nor
// queue/dsn. For delay warnings it decides only when: which messages are
// old enough and have a recipient queue.Delayed reports (NOTIFY honoured,
// RFC 3461 §4.1); the queue writes each warning, queues it from the null
// sender like a bounce notice and sets store.Message.DelayWarned, once per
// message (Queue.WarnDelay; a crash in between sends it twice rather than
// never).
//
// Never imports: cmd/..., config, queue/admin/..., queue/submission, queue/metrics.
// Never imports directly: delivery/..., queue/dsn.
package maintenance
