package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/outbox-mta/outbox/config"
	"github.com/outbox-mta/outbox/queue"
	"github.com/outbox-mta/outbox/queue/admin"
	"github.com/outbox-mta/outbox/queue/submission"
	"github.com/outbox-mta/outbox/store"
)

// runServe runs the daemon until SIGTERM/SIGINT; SIGHUP reloads the
// configuration file. It reads top to bottom as the daemon starts: config →
// store → deliverer → queue → listeners → services; and stops in the
// reverse order.
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
	// SIGHUP's default action kills the process: take it over before
	// anything else, so that an early `systemctl reload` is harmless.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	log := newLogger(c.stderr, os.Getenv("JOURNAL_STREAM") != "")
	cfg, err := config.Load(*configFile)
	if err == nil {
		err = cfg.Check(time.Now())
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "outbox serve: %v\n", err)
		return exitError
	}
	// Logged once the store is closed: after this line, nothing of the
	// spool is in use.
	if err := serve(ctx, cfg, lifecycle{configFile: *configFile, reload: hup}, log); err != nil {
		if de := (*store.DamageError)(nil); errors.As(err, &de) {
			logDamaged(log, cfg.Spool.Dir, de)
			return exitDamaged
		}
		log.Error("outbox stopped", "err", err)
		if errors.Is(err, store.ErrFailed) {
			return exitSpoolFailed
		}
		return exitError
	}
	log.Info("outbox stopped")
	return exitOK
}

// logDamaged tells the operator why the daemon stops on a damaged spool and
// what to do; systemd does not restart it (RestartPreventExitStatus=).
func logDamaged(log *slog.Logger, dir string, de *store.DamageError) {
	log.Error("outbox stopped: the spool file is damaged; not restarting on it",
		"file", de.Path, "problem", de.Problem, "exit_status", exitDamaged,
		"action", fmt.Sprintf("run `outbox spool check --spool %s`, then `outbox spool salvage --from %s --to NEWDIR` and set spool.dir to NEWDIR (README: Recovering a damaged spool)", dir, dir))
}

// newLogger logs text lines to w. Under journald (JOURNAL_STREAM set) the
// time is left out: the journal stamps every line itself.
func newLogger(w io.Writer, journal bool) *slog.Logger {
	opts := &slog.HandlerOptions{}
	if journal {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// lifecycle is what serve needs from its supervisor besides the context
// that stops it.
type lifecycle struct {
	configFile string           // re-read on reload; "" for the embedded defaults
	reload     <-chan os.Signal // SIGHUP
}

// serve runs the daemon described by cfg until ctx is cancelled.
func serve(ctx context.Context, cfg *config.Config, lc lifecycle, log *slog.Logger) error {
	log.Info("starting outbox", "config", cfg)

	// Opening the spool recovers it (store/recover.go): nothing is
	// accepted or delivered before that is done.
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

	// Users, certificate, routes and relays: what a reload replaces.
	set, err := loadSettings(cfg)
	if err != nil {
		return err
	}
	deliverer, err := newDeliverer(cfg, set, log)
	if err != nil {
		return err
	}
	defer deliverer.Close()

	q, err := queue.New(db, deliverer, queueOptions(cfg, db, log))
	if err != nil {
		return err
	}

	lv := newLive(set, deliverer)
	subm, err := newSubmission(cfg, q, lv, log)
	if err != nil {
		return err
	}
	listeners, adminL, err := bindListeners(cfg)
	if err != nil {
		return err
	}
	adm := &admin.Server{Queue: q, Logger: log, Dispatch: dispatchStatus(q)}

	var wg sync.WaitGroup
	serveErr := make(chan error, len(listeners)+3)
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

	runCtx, stopRunning := context.WithCancel(context.Background())
	defer stopRunning()
	if cfg.Delivery.Paused {
		log.Warn("delivery is paused (delivery.paused): mail is spooled, not sent")
	} else {
		wg.Go(func() {
			if err := q.Run(runCtx); err != nil && !errors.Is(err, queue.ErrClosed) && !errors.Is(err, context.Canceled) {
				serveErr <- fmt.Errorf("queue: %w", err)
			}
		})
	}
	stopServices, err := startServices(runCtx, cfg, db, q, log)
	var runErr error
	if err != nil {
		runErr = fmt.Errorf("services: %w", err)
		stopServices = func(context.Context) error { return nil }
	} else {
		rl := &reloader{path: lc.configFile, started: cfg, live: lv, log: log, now: time.Now}
		runErr = runReady(ctx, runCtx, db, serveErr, lc.reload, rl, log)
	}

	// Stop accepting and let transactions in progress finish, stop
	// claiming deliveries and let those in flight finish, and stop the
	// services, all within one bound (limits.shutdown_timeout, which
	// the unit's TimeoutStopSec exceeds). Deliveries still running then
	// are abandoned to the queue: their recipients stay due. The store
	// is closed last (deferred above).
	stopCtx, cancel := context.WithTimeout(context.Background(), cfg.Limits.ShutdownTimeout.Duration)
	defer cancel()
	if errors.Is(runErr, store.ErrFailed) {
		// Nothing can be recorded any more: a delivery that finished now
		// would only be sent again after the restart. Cut them short.
		stopRunning()
	}
	var stopping sync.WaitGroup
	stopping.Go(func() {
		if err := subm.Shutdown(stopCtx); err != nil {
			log.Warn("submission shutdown: transactions cut short (their clients got no 250)", "err", err)
		}
	})
	stopping.Go(func() {
		if err := q.Shutdown(stopCtx); err != nil {
			log.Warn("in-flight deliveries abandoned to the queue", "err", err)
		}
	})
	stopping.Go(func() {
		if err := stopServices(stopCtx); err != nil {
			log.Warn("services shutdown", "err", err)
		}
	})
	stopping.Wait()
	if err := adm.Shutdown(stopCtx); err != nil {
		log.Warn("admin shutdown", "err", err)
	}
	stopRunning()
	wg.Wait()
	return runErr
}

// bindListeners binds every listener before any is served, so that a bad
// address fails the start instead of leaving a half-running daemon.
func bindListeners(cfg *config.Config) (submissionLs []net.Listener, adminL net.Listener, err error) {
	closeAll := func() {
		for _, l := range submissionLs {
			l.Close()
		}
	}
	for _, ls := range cfg.Listen.Submission {
		l, err := net.Listen("tcp", ls.Address)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("listen.submission %s: %w", ls.Address, err)
		}
		submissionLs = append(submissionLs, l)
	}
	adminL, err = admin.Listen(cfg.Admin.Socket)
	if err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("admin.socket: %w", err)
	}
	return submissionLs, adminL, nil
}

// runReady tells the service manager the daemon is ready, pings its
// watchdog, and serves reloads until ctx is cancelled (nil) or a listener,
// the queue or the spool fails (its error; store.ErrFailed for the spool). It tells the manager the daemon is
// stopping before it returns.
func runReady(ctx, runCtx context.Context, db *store.DB, serveErr <-chan error, reload <-chan os.Signal, rl *reloader, log *slog.Logger) error {
	log.Info("outbox ready", "hostname", rl.started.Hostname, "spool", rl.started.Spool.Dir)
	sdNotify(log, daemon.SdNotifyReady)
	defer sdNotify(log, daemon.SdNotifyStopping)
	// The watchdog's liveness check is a read of the spool: a daemon whose
	// store no longer answers can neither accept nor deliver.
	watchdogCtx, stopWatchdog := context.WithCancel(runCtx)
	watchdogDone := startWatchdog(watchdogCtx, func(ctx context.Context) error {
		_, _, err := db.NextDue(ctx)
		return err
	}, log)
	defer func() {
		stopWatchdog()
		<-watchdogDone
	}()

	for {
		select {
		case <-ctx.Done():
			log.Info("stopping outbox")
			return nil
		case <-db.Failed():
			err := db.Err()
			if errors.Is(err, store.ErrFailed) {
				log.Error("stopping outbox: the spool failed; exiting so that a restart reopens it from disk",
					"spool", rl.started.Spool.Dir, "err", err, "exit_status", exitSpoolFailed)
			}
			return err
		case err := <-serveErr:
			log.Error("stopping outbox", "err", err)
			return err
		case <-reload:
			sdNotify(log, daemon.SdNotifyReloading)
			if err := rl.reload(); err != nil {
				log.Error("reload rejected, the running configuration stays", "err", err)
			}
			sdNotify(log, daemon.SdNotifyReady)
		}
	}
}

// dispatchStatus reads the queue's delivery state for `outbox queue stats`.
func dispatchStatus(q *queue.Queue) func() admin.DispatchStatus {
	return func() admin.DispatchStatus {
		s := q.Stats()
		return admin.DispatchStatus{
			Paused: s.DispatchPaused, Since: s.PausedSince, Reason: s.PauseReason,
			CommitFailures: s.CommitFailures, CommitBackoff: s.CommitBackoff,
		}
	}
}
