package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
)

// sdNotify tells the service manager about the daemon's state
// (sd_notify(3), Type=notify in systemd/outbox.service): READY=1 once the
// spool is recovered and every listener is bound, RELOADING=1 and READY=1
// around a reload, STOPPING=1 when the shutdown starts. Without
// NOTIFY_SOCKET (not started by systemd) it does nothing.
func sdNotify(log *slog.Logger, state string) {
	if _, err := sd.SdNotify(false, state); err != nil {
		log.Warn("sd_notify failed", "state", state, "err", err)
	}
}

// watchdog pings the service manager's watchdog (WatchdogSec=) for as long
// as the daemon answers: before each ping, check must succeed within half
// the interval. A daemon that is wedged (a store that no longer answers)
// stops pinging, and systemd restarts it.
type watchdog struct {
	// Interval is the watchdog timeout (WATCHDOG_USEC). Pings are sent every
	// half interval, as sd_watchdog_enabled(3) recommends.
	Interval time.Duration
	// Check is the liveness check run before each ping.
	Check func(context.Context) error
	// Ping sends WATCHDOG=1.
	Ping func() error
	Log  *slog.Logger
}

// errCheckStuck is a liveness check that has not returned by the next tick.
var errCheckStuck = errors.New("the previous liveness check has not returned")

// run pings until ctx is done.
func (w *watchdog) run(ctx context.Context) {
	tick := time.NewTicker(w.Interval / 2)
	defer tick.Stop()
	// One check at a time: a check stuck for good must not pile up
	// goroutines, one per tick.
	var pending chan error
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var err error
		if pending == nil {
			pending = make(chan error, 1)
			go func(c chan<- error) {
				cctx, cancel := context.WithTimeout(ctx, w.Interval/2)
				defer cancel()
				c <- w.Check(cctx)
			}(pending)
		}
		select {
		case err = <-pending:
			pending = nil
		case <-time.After(w.Interval / 2):
			err = errCheckStuck
		case <-ctx.Done():
			return
		}
		if err != nil {
			w.Log.Error("watchdog: liveness check failed, not pinging", "component", "watchdog", "err", err)
			continue
		}
		if err := w.Ping(); err != nil {
			w.Log.Warn("watchdog ping failed", "component", "watchdog", "err", err)
		}
	}
}

// startWatchdog runs a watchdog when the service manager asked for one
// (WATCHDOG_USEC set for this process), until ctx is done.
func startWatchdog(ctx context.Context, check func(context.Context) error, log *slog.Logger) (stopped <-chan struct{}) {
	done := make(chan struct{})
	interval, err := sd.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn("watchdog disabled: bad WATCHDOG_USEC", "err", err)
	}
	if interval <= 0 {
		close(done)
		return done
	}
	w := &watchdog{
		Interval: interval,
		Check:    check,
		Ping: func() error {
			_, err := sd.SdNotify(false, sd.SdNotifyWatchdog)
			return err
		},
		Log: log,
	}
	log.Info("watchdog enabled", "component", "watchdog", "interval", interval)
	go func() {
		defer close(done)
		w.run(ctx)
	}()
	return done
}
