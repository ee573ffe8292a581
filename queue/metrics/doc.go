// Package metrics serves the daemon's Prometheus endpoint.
//
// It owns the metric names and a private prometheus.Registry; nothing else
// in Outbox imports Prometheus. The metrics are read, at scrape time, from
// counters the other packages already keep — queue.Queue.Stats for the
// delivery counters (delivered, deferred, bounced by reason, attempts by
// TLS version, attempt durations, ambiguous deliveries), the Listener
// (cmd's count of the submission listener's accepted messages and open
// connections), store.DB.Stats for the queue's size by state and its
// oldest message, mxresolve.Cache.Stats for the DNS cache's hits,
// misses and entries, and webhook.Dispatcher.Status for each webhook
// endpoint's failed mark, cursor and request counters — so no package sprinkles Prometheus calls through its hot
// paths, and the counts on the endpoint are the very ones in the logs.
//
// store.DB.Stats reads no record (the store keeps the counts as it
// commits), so every scrape reads it afresh and agrees with `outbox queue
// stats`, which serialises the same count.
//
// The HTTP server has read, write and idle timeouts and serves at most
// Options.MaxConnections connections at once, so idle keep-alive clients
// cannot use up the daemon's file descriptors.
//
// It must never import config (cmd maps the configuration onto Options),
// and it calls nothing of delivery (the queue it reads does). There is no
// package-level state: two Metrics in one process (as in tests) are
// independent.
//
// Never imports: cmd/..., config, queue/admin/..., queue/submission, queue/maintenance.
// Never imports directly: delivery/....
package metrics
