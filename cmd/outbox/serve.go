package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/outbox-mta/outbox/config"
	"github.com/outbox-mta/outbox/queue"
	"github.com/outbox-mta/outbox/queue/admin"
	"github.com/outbox-mta/outbox/queue/submission"
	"github.com/outbox-mta/outbox/store"
)

// runServe runs the daemon until SIGTERM/SIGINT. It reads top to bottom as
// the daemon starts: config → store → resolver → deliverer → queue →
// listeners; and stops in the reverse order.
func runServe(ctx context.Context, c *cli, args []string) int {
	fs := flag.NewFlagSet("outbox serve", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	configFile := fs.String("config", "", "configuration `FILE` (default: embedded defaults)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(c.stderr, "outbox serve: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(c.stderr, nil))
	cfg, err := config.Load(*configFile)
	if err == nil {
		err = cfg.Check(time.Now())
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "outbox serve: %v\n", err)
		return exitError
	}
	if err := serve(ctx, cfg, log); err != nil {
		log.Error("outbox stopped", "err", err)
		return exitError
	}
	return exitOK
}

// serve runs the daemon described by cfg until ctx is cancelled.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	log.Info("starting outbox", "config", cfg)

	db, err := store.Open(cfg.Spool.Dir, store.Options{
		LockTimeout: cfg.Spool.LockTimeout.Duration,
		Logger:      log,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := db.Close(); err != nil {
			log.Error("closing the spool", "err", err)
		}
	}()

	deliverer, err := newDeliverer(cfg, log)
	if err != nil {
		return err
	}
	defer deliverer.Close()

	q, err := queue.New(db, deliverer, queueOptions(cfg, db, log))
	if err != nil {
		return err
	}

	subm, err := newSubmission(cfg, q, log)
	if err != nil {
		return err
	}
	// Bind every listener before serving any, so a bad address fails the
	// start instead of leaving a half-running daemon.
	var listeners []net.Listener
	closeAll := func() {
		for _, l := range listeners {
			l.Close()
		}
	}
	for _, ls := range cfg.Listen.Submission {
		l, err := net.Listen("tcp", ls.Address)
		if err != nil {
			closeAll()
			return fmt.Errorf("listen.submission %s: %w", ls.Address, err)
		}
		listeners = append(listeners, l)
	}
	adminL, err := admin.Listen(cfg.Admin.Socket)
	if err != nil {
		closeAll()
		return fmt.Errorf("admin.socket: %w", err)
	}
	adm := &admin.Server{Queue: q, Logger: log}

	var wg sync.WaitGroup
	serveErr := make(chan error, len(listeners)+2)
	for i, l := range listeners {
		mode := cfg.Listen.Submission[i].Mode
		wg.Go(func() {
			var err error
			if mode == config.ModeTLS {
				err = subm.ServeTLS(l)
			} else {
				err = subm.Serve(l)
			}
			if err != nil && !errors.Is(err, submission.ErrServerClosed) {
				serveErr <- fmt.Errorf("submission %s: %w", l.Addr(), err)
			}
		})
		log.Info("listening", "component", "submission", "addr", l.Addr().String(), "mode", mode)
	}
	wg.Go(func() {
		if err := adm.Serve(adminL); err != nil && !errors.Is(err, admin.ErrServerClosed) {
			serveErr <- fmt.Errorf("admin: %w", err)
		}
	})
	log.Info("listening", "component", "admin", "socket", cfg.Admin.Socket)

	queueCtx, stopQueue := context.WithCancel(context.Background())
	defer stopQueue()
	if cfg.Delivery.Paused {
		log.Warn("delivery is paused (delivery.paused): mail is spooled, not sent")
	} else {
		wg.Go(func() {
			if err := q.Run(queueCtx); err != nil && !errors.Is(err, queue.ErrClosed) && !errors.Is(err, context.Canceled) {
				serveErr <- fmt.Errorf("queue: %w", err)
			}
		})
	}
	log.Info("outbox ready", "hostname", cfg.Hostname, "spool", cfg.Spool.Dir)

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("stopping outbox")
	case runErr = <-serveErr:
		log.Error("stopping outbox", "err", runErr)
	}

	// Stop accepting and let transactions in progress finish within the
	// bound, then stop claiming work and drain deliveries; the store is
	// closed last (deferred above).
	stopCtx, cancel := context.WithTimeout(context.Background(), cfg.Limits.ShutdownTimeout.Duration)
	defer cancel()
	if err := subm.Shutdown(stopCtx); err != nil {
		log.Warn("submission shutdown", "err", err)
	}
	if err := q.Shutdown(stopCtx); err != nil {
		log.Warn("in-flight deliveries abandoned to the queue", "err", err)
	}
	if err := adm.Shutdown(stopCtx); err != nil {
		log.Warn("admin shutdown", "err", err)
	}
	stopQueue()
	wg.Wait()
	log.Info("outbox stopped")
	return runErr
}
