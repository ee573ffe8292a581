package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/outbox-mta/outbox/config"
	"github.com/outbox-mta/outbox/store"
)

// runSpoolCheck is `outbox spool check [--spool DIR | --config FILE]`: an
// offline consistency check of the spool, as Postfix's `postsuper -s`
// (store.Check). It exits 0 when the spool is clean, 1 when it is damaged
// (listing every problem), 2 on a usage error or when the spool cannot be
// checked: none there, or the daemon is running on it.
func runSpoolCheck(ctx context.Context, c *cli, args []string) int {
	v := newVerbFlags(c, "spool check")
	dir := v.fs.String("spool", "", "spool `DIR` (default: spool.dir of --config)")
	configFile := v.fs.String("config", "", "configuration `FILE` whose spool.dir to check")
	if code, ok := v.parseNoArgs(args); !ok {
		return code
	}
	spool, lock, err := spoolDir(*dir, *configFile)
	if err != nil {
		fmt.Fprintf(c.stderr, "outbox spool check: %v\n", err)
		return exitUsage
	}
	r, err := store.Check(spool, lock)
	if errors.Is(err, store.ErrLocked) {
		fmt.Fprintf(c.stderr, "outbox spool check: %v\nThe daemon is running on this spool: stop it first (systemctl stop outbox).\n", err)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "outbox spool check: %v\n", err)
		return exitUsage
	}
	fmt.Fprintf(c.stdout, "%s: %d messages, %d body files, %d quarantined, %d orphan body files (removed at the next start)\n",
		r.Path, r.Messages, r.BodyFiles, r.Quarantined, len(r.Orphans))
	if r.Clean() {
		fmt.Fprintln(c.stdout, "spool OK")
		return exitOK
	}
	fmt.Fprintf(c.stdout, "spool DAMAGED: %d problems:\n", len(r.Problems))
	for _, p := range r.Problems {
		fmt.Fprintf(c.stdout, "  %s\n", p)
	}
	fmt.Fprintf(c.stdout, "Recover the readable mail into a new spool: outbox spool salvage --from %s --to NEWDIR\n", spool)
	return exitError
}

// spoolDir is the spool directory named by --spool, else by the spool.dir
// of the --config file (the embedded default when neither is given), with
// the configured lock timeout.
func spoolDir(dir, configFile string) (string, time.Duration, error) {
	if dir != "" && configFile != "" {
		return "", 0, errors.New("give --spool or --config, not both")
	}
	if dir != "" {
		return dir, 0, nil
	}
	cfg, err := config.Load(configFile)
	if err != nil {
		return "", 0, err
	}
	return cfg.Spool.Dir, cfg.Spool.LockTimeout.Duration, nil
}
