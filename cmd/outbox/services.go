package main

import (
	"log/slog"

	"github.com/outbox-mta/outbox/config"
	"github.com/outbox-mta/outbox/mxresolve"
	"github.com/outbox-mta/outbox/queue"
	"github.com/outbox-mta/outbox/queue/maintenance"
	"github.com/outbox-mta/outbox/queue/metrics"
	"github.com/outbox-mta/outbox/queue/webhook"
)

// newMetrics builds the metrics endpoint, or nil when metrics.address is
// empty. The DNS cache's counters are left out when the cache is off.
func newMetrics(cfg *config.Config, db spool, q *queue.Queue, counters *listenerCounters, resolver *mxresolve.Resolver, wh *webhook.Dispatcher, log *slog.Logger) (*metrics.Metrics, error) {
	if cfg.Metrics.Address == "" {
		return nil, nil
	}
	opts := metrics.Options{Queue: q, Listener: counters, Spool: db, Logger: log, Build: buildInfo()}
	if resolver.Cache != nil { // not a typed nil in the interface
		opts.DNSCache = resolver.Cache
	}
	if wh != nil {
		opts.Webhooks = wh
	}
	return metrics.New(opts)
}

// maintenanceOptions maps the configuration onto the maintenance jobs.
func maintenanceOptions(cfg *config.Config, db spool, q *queue.Queue, log *slog.Logger) maintenance.Options {
	return maintenance.Options{
		Store: db,
		// Several nodes on one database: each job runs on one at a time.
		Exclusive: exclusive(db),
		Queue:     q,
		Schedules: maintenance.Schedules{
			Prune:         cfg.Cron.Prune,
			DelayWarnings: cfg.Cron.DelayWarnings,
			Stats:         cfg.Cron.Stats,
			Sweep:         cfg.Cron.Sweep,
		},
		Retention:            cfg.Spool.Retention.Duration,
		BounceRetention:      cfg.Spool.BounceRetention.Duration,
		EventRetention:       cfg.Spool.EventRetention.Duration,
		IdempotencyRetention: cfg.API.IdempotencyRetention.Duration,
		DelayWarning:         cfg.Delivery.DelayWarning.Duration,
		Logger:               log,
	}
}
