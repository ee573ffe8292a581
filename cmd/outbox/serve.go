package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"

	"github.com/outbox-mta/outbox/config"
	"github.com/outbox-mta/outbox/queue"
	"github.com/outbox-mta/outbox/queue/admin"
	"github.com/outbox-mta/outbox/store"
)

// runServe runs the daemon until SIGTERM/SIGINT; SIGHUP reloads the
// configuration file: config → daemon (store → deliverer → queue →
// listeners → services), which stops in the order documented on daemon.
func runServe(ctx context.Context, c *cli, args []string) int {
	v := newVerbFlags(c, "serve")
	configFile := v.fs.String("config", "", "configuration `FILE` (default: embedded defaults)")
	if code, ok := v.parseNoArgs(args); !ok {
		return code
	}
	// SIGHUP's default action kills the process: take it over before
	// anything else, so that an early `systemctl reload` is harmless.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	cfg, err := config.Load(*configFile)
	if err == nil {
		err = cfg.Check(time.Now())
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "outbox serve: %v\n", err)
		return exitError
	}
	log := newLogger(c.stderr, os.Getenv("JOURNAL_STREAM") != "", cfg.Log)
	for _, w := range cfg.Warnings() {
		log.Warn(w.Msg, "key", w.Key)
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

// newLogger logs to w in lc's format, from lc's level up. Under journald
// (JOURNAL_STREAM set) the time is left out: the journal stamps every line
// itself.
func newLogger(w io.Writer, journal bool, lc config.Log) *slog.Logger {
	opts := &slog.HandlerOptions{Level: lc.SlogLevel()}
	if journal {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	if lc.Format == config.LogJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// lifecycle is what serve needs from its supervisor besides the context
// that stops it.
type lifecycle struct {
	configFile string           // re-read on reload; "" for the embedded defaults
	reload     <-chan os.Signal // SIGHUP
}

// serve runs the daemon described by cfg until ctx is cancelled (nil) or
// it fails; see daemon for what runs and the order in which it stops.
func serve(ctx context.Context, cfg *config.Config, lc lifecycle, log *slog.Logger) error {
	log.Info("starting outbox", "config", cfg)
	d, err := newDaemon(cfg, log)
	if err != nil {
		return err
	}
	return d.run(ctx, lc)
}

// runReady tells the service manager the daemon is ready, pings its
// watchdog, and serves reloads until ctx is cancelled (nil) or a listener,
// the queue or the spool fails (its error; store.ErrFailed for the spool). It tells the manager the daemon is
// stopping before it returns.
func runReady(ctx, runCtx context.Context, db spool, serveErr <-chan error, reload <-chan os.Signal, rl *reloader, log *slog.Logger) error {
	log.Info("outbox ready", "hostname", rl.started.Hostname, "spool", rl.started.Spool.Dir)
	sdNotify(log, sd.SdNotifyReady)
	defer sdNotify(log, sd.SdNotifyStopping)
	// The watchdog's liveness check is a read of the spool: a daemon whose
	// store no longer answers can neither accept nor deliver.
	watchdogCtx, stopWatchdog := context.WithCancel(runCtx)
	watchdogDone := startWatchdog(watchdogCtx, func(ctx context.Context) error { return spoolAlive(ctx, db) }, log)
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
			sdNotify(log, sd.SdNotifyReloading)
			if err := rl.reload(); err != nil {
				log.Error("reload rejected, the running configuration stays", "err", err)
			}
			sdNotify(log, sd.SdNotifyReady)
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
