package main

import (
	"context"
	"log/slog"

	"github.com/outbox-mta/outbox/config"
	"github.com/outbox-mta/outbox/delivery/dkim"
	"github.com/outbox-mta/outbox/queue"
	"github.com/outbox-mta/outbox/queue/maintenance"
	"github.com/outbox-mta/outbox/queue/tlsrpt"
	"github.com/outbox-mta/outbox/store"
)

// tlsReports is TLS reporting (RFC 8460) as the daemon runs it: the
// recorder the deliveries feed, and the reporter the daily job runs. nil
// when tls_reports.enabled is false.
type tlsReports struct {
	rec *tlsrpt.Recorder
	rep *tlsrpt.Reporter
}

// newTLSReports builds TLS reporting from cfg; nil, nil when it is off.
func newTLSReports(cfg *config.Config, db *store.DB, q *queue.Queue, log *slog.Logger) (*tlsReports, error) {
	c := cfg.TLSReports
	if !c.Enabled {
		return nil, nil
	}
	from := c.From
	if from == "" {
		from = "postmaster@" + cfg.Hostname
	}
	server := cfg.Delivery.Resolver
	rep, err := tlsrpt.NewReporter(tlsrpt.ReporterOptions{
		Store: db, Spool: db, Waker: q,
		Lookup: func(ctx context.Context, name string) ([]string, error) {
			return dkim.Lookup(ctx, server, name)
		},
		Submitter: cfg.Hostname, Organization: c.Organization, Contact: c.Contact, From: from,
		Logger: log,
	})
	if err != nil {
		return nil, err
	}
	return &tlsReports{rec: tlsrpt.NewRecorder(tlsrpt.RecorderOptions{Store: db, Logger: log}), rep: rep}, nil
}

// schedule adds the daily report job to the maintenance jobs.
func (t *tlsReports) schedule(cfg *config.Config, o *maintenance.Options) {
	if t == nil {
		return
	}
	o.Schedules.TLSReports = cfg.Cron.TLSReports
	o.TLSReports = t.rep.Send
}

// run writes the recorded results until ctx ends.
func (t *tlsReports) run(ctx context.Context) {
	if t != nil {
		t.rec.Run(ctx) //nolint:errcheck // ends with ctx
	}
}

// flush writes what is recorded; called once deliveries have drained.
func (t *tlsReports) flush(ctx context.Context, log *slog.Logger) {
	if t == nil {
		return
	}
	if err := t.rec.Flush(ctx); err != nil {
		log.Warn("TLS report results lost", "component", "tlsrpt", "err", err)
	}
}
