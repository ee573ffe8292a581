package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/outbox-mta/outbox/config"
	"github.com/outbox-mta/outbox/mxresolve"
	"github.com/outbox-mta/outbox/queue"
	"github.com/outbox-mta/outbox/queue/maintenance"
	"github.com/outbox-mta/outbox/queue/metrics"
	"github.com/outbox-mta/outbox/store"
)

// startServices starts the metrics endpoint and the scheduled maintenance jobs.
// The returned stop ends both, waiting until ctx ends for a scrape or a job
// in progress. When it fails, nothing is left running. dnsCache is nil when
// the DNS cache is off.
func startServices(ctx context.Context, cfg *config.Config, db *store.DB, q *queue.Queue, dnsCache *mxresolve.Cache, log *slog.Logger) (stop func(context.Context) error, err error) {
	jobs, err := maintenance.New(maintenanceOptions(cfg, db, q, log))
	if err != nil {
		return nil, err
	}
	var (
		m        *metrics.Metrics
		serveErr = make(chan error, 1)
	)
	if addr := cfg.Metrics.Address; addr != "" {
		opts := metrics.Options{Queue: q, Spool: db, Logger: log}
		if dnsCache != nil { // not a typed nil in the interface
			opts.DNSCache = dnsCache
		}
		m, err = metrics.New(opts)
		if err != nil {
			return nil, err
		}
		var lc net.ListenConfig
		l, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("metrics.address: %w", err)
		}
		go func() {
			err := m.Serve(l)
			if !errors.Is(err, metrics.ErrServerClosed) {
				log.Error("metrics endpoint stopped", "component", "metrics", "err", err)
			}
			serveErr <- err
		}()
		log.Info("listening", "component", "metrics", "addr", l.Addr().String())
	}
	jobs.Start()
	return func(ctx context.Context) error {
		var errs []error
		if m != nil {
			errs = append(errs, m.Shutdown(ctx))
			<-serveErr
		}
		errs = append(errs, jobs.Stop(ctx))
		return errors.Join(errs...)
	}, nil
}

// maintenanceOptions maps the configuration onto the maintenance jobs.
func maintenanceOptions(cfg *config.Config, db *store.DB, q *queue.Queue, log *slog.Logger) maintenance.Options {
	return maintenance.Options{
		Store: db,
		Queue: q,
		Schedules: maintenance.Schedules{
			Prune:         cfg.Cron.Prune,
			DelayWarnings: cfg.Cron.DelayWarnings,
			Stats:         cfg.Cron.Stats,
			Sweep:         cfg.Cron.Sweep,
		},
		Retention:       cfg.Spool.Retention.Duration,
		BounceRetention: cfg.Spool.BounceRetention.Duration,
		DelayWarning:    cfg.Delivery.DelayWarning.Duration,
		Logger:          log,
	}
}
