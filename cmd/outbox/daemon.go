package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/outbox-mta/outbox/config"
	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/queue"
	"github.com/outbox-mta/outbox/queue/admin"
	"github.com/outbox-mta/outbox/queue/httpapi"
	"github.com/outbox-mta/outbox/queue/maintenance"
	"github.com/outbox-mta/outbox/queue/metrics"
	"github.com/outbox-mta/outbox/queue/submission"
	"github.com/outbox-mta/outbox/queue/webhook"
	"github.com/outbox-mta/outbox/store"
)

// daemon is the running Outbox: the parts built from one configuration,
// and the one order in which they stop. Every long-running part has
// net/http's shape: it runs (Serve on a listener, or Run with a context)
// until its Shutdown(ctx), which stops it gracefully within ctx.
//
// Stop order, all within limits.shutdown_timeout (which the unit's
// TimeoutStopSec exceeds):
//
//  1. Stop accepting: the submission listener closes its ports; a session
//     in a transaction finishes it (250 only once the commit returned).
//     The HTTP API does the same: a request being spooled gets its 202.
//  2. Stop claiming work: the queue dispatches nothing more.
//  3. Drain the deliveries in flight until the deadline; those still
//     running then are abandoned to the queue (their recipients stay due).
//     Steps 1 to 3 run side by side: neither drain waits for the other.
//  4. Stop the services: the maintenance jobs (a running job finishes),
//     the metrics endpoint, then the admin socket, last so that the CLI
//     can watch the drain.
//  5. Close the deliverer's pooled connections, then the store.
//
// When the spool has failed (store.ErrFailed), the deliveries in flight
// are cut short at once: nothing could record their outcome, so a
// finished one would only be sent again after the restart.
type daemon struct {
	cfg *config.Config
	log *slog.Logger

	db        spool
	deliverer *delivery.Deliverer
	queue     *queue.Queue
	live      *live // what a reload swaps
	listener  *submission.Server
	admin     *admin.Server
	jobs      *maintenance.Runner
	metrics   *metrics.Metrics    // nil without metrics.address
	api       *httpapi.Server     // nil without api.address
	webhooks  *webhook.Dispatcher // nil without [[webhooks]]
	tlsrpt    *tlsReports         // nil without tls_reports.enabled

	submissionLs     []net.Listener // in cfg.Listen.Submission order
	adminL, metricsL net.Listener   // metricsL nil without metrics.address
	apiL             net.Listener   // nil without api.address
}

// newDaemon builds every part from cfg in the order the daemon depends on
// them (store → deliverer → queue → listener → services) and binds every
// address, so that a bad one fails the start instead of leaving a
// half-running daemon. On error, whatever it opened is closed.
func newDaemon(cfg *config.Config, log *slog.Logger) (d *daemon, err error) {
	d = &daemon{cfg: cfg, log: log}
	// Opening the spool recovers it (store/recover.go): nothing is
	// accepted or delivered before that is done.
	d.db, err = openSpool(cfg, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	// Users, certificate, routes and relays: what a reload replaces.
	set, err := loadSettings(cfg)
	if err != nil {
		return nil, err
	}
	resolver := newResolver(cfg, log)
	d.tlsrpt = newTLSReports(cfg, d.db, log)
	if d.deliverer, err = newDeliverer(cfg, set, resolver, d.db, d.tlsrpt.reporter(), log); err != nil {
		return nil, err
	}
	qopts := withSuppressions(queueOptions(cfg, log), cfg, d.db)
	qopts.Shaper, qopts.DownList = shapingState(cfg, resolver, d.deliverer, d.db, log)
	if d.queue, err = queue.New(d.db, d.deliverer, qopts); err != nil {
		return nil, err
	}
	d.live = newLive(set, d.deliverer)
	if d.webhooks, err = newWebhooks(cfg, d.db, log); err != nil {
		return nil, err
	}
	counters := new(listenerCounters)
	if d.listener, err = newSubmission(cfg, d.db, d.queue, counters, d.live, log); err != nil {
		return nil, err
	}
	if d.api, err = newAPI(cfg, d.db, d.queue, set.apiKeys, d.live, log); err != nil {
		return nil, err
	}
	d.admin, err = admin.New(admin.Options{Queue: d.queue.Ops(), Logger: log, Dispatch: dispatchStatus(d.queue),
		Access: adminAccess(cfg), Suppressions: d.db, Events: d.db,
		Explain: explainFunc(d.queue), Throttles: throttlesFunc(d.queue), TLS: adminTLS(cfg, d.db),
		Webhooks: adminWebhooksOf(d.webhooks, d.db)})
	if err != nil {
		return nil, err
	}
	mopts := maintenanceOptions(cfg, d.db, d.queue, log)
	if err := d.tlsrpt.schedule(cfg, &mopts, d.db, d.queue, resolver, &d.live.dkim); err != nil {
		return nil, fmt.Errorf("tls_reports: %w", err)
	}
	if d.jobs, err = maintenance.New(mopts); err != nil {
		return nil, fmt.Errorf("services: %w", err)
	}
	if d.metrics, err = newMetrics(cfg, d.db, d.queue, counters, resolver, d.webhooks, log); err != nil {
		return nil, fmt.Errorf("services: %w", err)
	}
	return d, d.bind()
}

// bind binds every listener before any is served. The admin socket is
// bound first: once a client can connect to a submission port, the CLI
// can reach the daemon too.
func (d *daemon) bind() (err error) {
	defer func() {
		if err != nil {
			d.closeListeners()
		}
	}()
	if d.adminL, err = admin.ListenWith(d.cfg.Admin.Socket, adminAccess(d.cfg)); err != nil {
		return fmt.Errorf("admin.socket: %w", err)
	}
	for _, ls := range d.cfg.Listen.Submission {
		l, err := net.Listen("tcp", ls.Address)
		if err != nil {
			return fmt.Errorf("listen.submission %s: %w", ls.Address, err)
		}
		d.submissionLs = append(d.submissionLs, l)
	}
	if d.api != nil {
		if d.apiL, err = net.Listen("tcp", d.cfg.API.Address); err != nil {
			return fmt.Errorf("api.address: %w", err)
		}
	}
	if addr := d.cfg.Metrics.Address; addr != "" {
		if d.metricsL, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("services: metrics.address: %w", err)
		}
	}
	return nil
}

// closeListeners closes the listeners bound so far, before they are served.
func (d *daemon) closeListeners() {
	for _, l := range append(d.submissionLs, d.adminL, d.metricsL, d.apiL) {
		if l != nil {
			l.Close()
		}
	}
}

// close closes the deliverer's pooled connections, then the store: the
// last step of the stop order. Each QUIT to a pooled connection is bounded
// by itself, so no deadline is needed here.
func (d *daemon) close() {
	if d.deliverer != nil {
		if err := d.deliverer.Shutdown(context.Background()); err != nil {
			d.log.Warn("closing pooled delivery connections", "err", err)
		}
	}
	if err := d.db.Close(); err != nil {
		d.log.Error("closing the spool", "err", err)
	}
}

// run serves until ctx is cancelled or a part fails, then stops every part
// in the documented order and closes the store. It returns nil after a
// requested stop, else the failure (store.ErrFailed for a failed spool).
func (d *daemon) run(ctx context.Context, lc lifecycle) error {
	defer d.close()
	// runCtx is the parts' context: cancelling it abandons what is left.
	runCtx, abandon := context.WithCancel(context.Background())
	defer abandon()
	var wg sync.WaitGroup
	failed := make(chan error, len(d.submissionLs)+5)
	d.start(runCtx, &wg, failed)
	rl := &reloader{path: lc.configFile, started: d.cfg, live: d.live, log: d.log, now: time.Now}
	runErr := runReady(ctx, runCtx, d.db, failed, lc.reload, rl, d.log)
	if errors.Is(runErr, store.ErrFailed) {
		abandon()
	}
	d.shutdown()
	abandon()
	wg.Wait()
	return runErr
}

// start runs every part in its own goroutine. A part that stops on its own
// sends its error to failed, which stops the daemon; the metrics endpoint
// only logs it (scrapes are not worth stopping mail for).
func (d *daemon) start(ctx context.Context, wg *sync.WaitGroup, failed chan<- error) {
	fail := func(name string, err error, stopped ...error) {
		for _, s := range append(stopped, context.Canceled) {
			if err == nil || errors.Is(err, s) {
				return
			}
		}
		failed <- fmt.Errorf("%s: %w", name, err)
	}
	for i, l := range d.submissionLs {
		mode := d.cfg.Listen.Submission[i].Mode
		serve := d.listener.Serve
		if mode == config.ModeTLS {
			serve = d.listener.ServeTLS
		}
		wg.Go(func() { fail("submission "+l.Addr().String(), serve(l), submission.ErrServerClosed) })
		d.log.Info("listening", "component", "submission", "addr", l.Addr().String(), "mode", mode)
	}
	if d.api != nil {
		serve := d.api.Serve
		if d.cfg.API.TLS {
			serve = d.api.ServeTLS
		}
		wg.Go(func() { fail("api", serve(d.apiL), httpapi.ErrServerClosed) })
		d.log.Info("listening", "component", "httpapi", "addr", d.apiL.Addr().String(), "tls", d.cfg.API.TLS)
	}
	wg.Go(func() { fail("admin", d.admin.Serve(d.adminL), admin.ErrServerClosed) })
	d.log.Info("listening", "component", "admin", "socket", d.cfg.Admin.Socket)
	if d.cfg.Delivery.Paused {
		d.log.Warn("delivery is paused (delivery.paused): mail is spooled, not sent")
	} else {
		wg.Go(func() { fail("queue", d.queue.Run(ctx), queue.ErrClosed) })
		wg.Go(func() { listenForWork(ctx, d.db, d.queue) })
	}
	wg.Go(func() { fail("maintenance", d.jobs.Run(ctx), maintenance.ErrClosed) })
	if d.webhooks != nil {
		// Beside the queue: it reads the event log and writes only its
		// cursors, so it never holds up mail; it stops with ctx.
		wg.Go(func() { runWebhooks(ctx, d.db, d.webhooks, d.log) })
	}
	wg.Go(func() { d.tlsrpt.run(ctx) })
	if d.metrics != nil {
		wg.Go(func() {
			if err := d.metrics.Serve(d.metricsL); !errors.Is(err, metrics.ErrServerClosed) {
				d.log.Error("metrics endpoint stopped", "component", "metrics", "err", err)
			}
		})
		d.log.Info("listening", "component", "metrics", "addr", d.metricsL.Addr().String())
	}
}

// shutdown stops the parts in the documented order (see daemon), within
// limits.shutdown_timeout.
func (d *daemon) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.Limits.ShutdownTimeout.Duration)
	defer cancel()
	var drain sync.WaitGroup
	drain.Go(func() {
		if err := d.listener.Shutdown(ctx); err != nil {
			d.log.Warn("submission shutdown: transactions cut short (their clients got no 250)", "err", err)
		}
	})
	if d.api != nil {
		drain.Go(func() {
			if err := d.api.Shutdown(ctx); err != nil {
				d.log.Warn("api shutdown: requests cut short (their clients got no 202)", "err", err)
			}
		})
	}
	drain.Go(func() {
		if err := d.queue.Shutdown(ctx); err != nil {
			d.log.Warn("in-flight deliveries abandoned to the queue", "err", err)
		}
	})
	drain.Wait()
	d.tlsrpt.flush(ctx, d.log)
	if err := d.jobs.Shutdown(ctx); err != nil {
		d.log.Warn("maintenance shutdown", "err", err)
	}
	if d.metrics != nil {
		if err := d.metrics.Shutdown(ctx); err != nil {
			d.log.Warn("metrics shutdown", "err", err)
		}
	}
	if err := d.admin.Shutdown(ctx); err != nil {
		d.log.Warn("admin shutdown", "err", err)
	}
}

// adminAccess is the admin socket's group access of cfg.
func adminAccess(cfg *config.Config) admin.Access {
	return admin.Access{Group: cfg.Admin.Group, ReadOnlyGroup: cfg.Admin.ReadOnlyGroup}
}
