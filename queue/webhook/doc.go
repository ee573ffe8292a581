// Package webhook delivers the spool's event log to HTTP endpoints, signed
// by the Standard Webhooks convention (secret.go), each endpoint in
// sequence order and at least once.
//
// # What it owns
//
//   - One goroutine per endpoint (worker.go), beside the queue: it reads
//     the log (Log, adapted by cmd from the store's) after its own cursor,
//     sends the events its Types filter wants (a page short of MaxBatch
//     waits Linger once for more) as one POST of up to
//     MaxBatch events ({"type":"outbox.events","timestamp":...,
//     "data":{"events":[...]}}, each event as the feed serves it), and
//     only after a 2xx records the last sequence number read as the
//     cursor (Cursors, kept in the spool by store.PutWebhookCursor).
//     Nothing is sent out of order: the next batch waits for the
//     acknowledgement of the one before.
//   - Retries: a failed request (transport error, timeout, TLS error, any
//     status but 2xx; redirects are never followed) is retried with the
//     same batch and the same webhook-id after a back-off (queue.Backoff:
//     FirstRetry doubling to MaxRetry, ±10 % jitter). When failures have
//     lasted RetryFor (default 72h) the endpoint is marked failed in the
//     spool and probed every ProbeInterval; the first 2xx clears the mark
//     and delivery goes on from the cursor. Redeliver (the operator's
//     `outbox webhooks redeliver`) clears it at once.
//   - An endpoint never seen before starts at the beginning of the log:
//     it receives every event still retained.
//   - Each request is bounded by Endpoint.Timeout; at most MaxReply bytes
//     of a reply are read. Every failure is logged once with the
//     endpoint's name, its URL with any password masked, and the cause.
//
// # What it must never import
//
// It sees the log and the cursors through Log and Cursors, defined here;
// it imports store for the cursor's type and queue for its Clock and
// Backoff (and so, through queue, delivery's types), and never cmd,
// config, the listener or bbolt. The queue does
// not import it: the dispatcher runs beside the queue and cannot hold up
// a commit of mail; its only writes are cursor records, which join the
// store's group commit.
//
// Never imports: cmd/..., config, queue/admin, queue/submission, queue/maintenance,
// queue/metrics.
// Never imports directly: go.etcd.io/bbolt.
//
// # Contract
//
//   - At least once: the cursor moves only after a 2xx, so a lost answer
//     sends the batch again (the same events, a webhook-id naming the same
//     first and last sequence numbers); receivers de-duplicate on the
//     events' sequence numbers. The cursor is written when the endpoint
//     goes idle, when a run of failures ends, and at most every
//     CursorInterval (1s) while it keeps acknowledging, so a busy spool
//     pays one cursor write a second per endpoint, not one per request;
//     a crash sends again at most that last second of acknowledged
//     events (the analogue of the mail duplicate window, store/doc.go).
//   - In order per endpoint: events reach an endpoint in increasing
//     sequence order, duplicates aside.
//   - The secret never reaches a log or an error: Secret prints as
//     "[redacted]".
//   - All time comes from Options.Clock and all jitter from Options.Rand.
package webhook
