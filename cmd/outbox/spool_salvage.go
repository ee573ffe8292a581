package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/outbox-mta/outbox/store"
)

// runSpoolSalvage is `outbox spool salvage --from DIR --to NEWDIR`: it
// copies every readable message of a damaged spool into a new one
// (store.Salvage) and lists what could not be read. It exits 0 when
// everything was copied, 1 when something could not be read, 2 on a usage
// error or when the salvage could not run (the daemon is running on DIR,
// NEWDIR already holds a spool).
func runSpoolSalvage(ctx context.Context, c *cli, args []string) int {
	v := newVerbFlags(c, "spool salvage")
	fs := v.fs
	from := fs.String("from", "", "the damaged spool `DIR` (read only)")
	to := fs.String("to", "", "the new spool `DIR` to create")
	pos, code, ok := v.parse(args)
	if !ok {
		return code
	}
	switch {
	case len(pos) > 0:
		fmt.Fprintf(c.stderr, "outbox spool salvage: unexpected argument %q\n", pos[0])
		return exitUsage
	case *from == "" || *to == "":
		fmt.Fprintln(c.stderr, "outbox spool salvage: --from and --to are both required")
		fs.Usage()
		return exitUsage
	}
	r, err := store.Salvage(ctx, *from, *to, store.Options{Logger: slog.New(slog.DiscardHandler)})
	if r == nil {
		fmt.Fprintf(c.stderr, "outbox spool salvage: %v\n", err)
		if errors.Is(err, store.ErrLocked) {
			fmt.Fprintln(c.stderr, "The daemon is running on this spool: stop it first (systemctl stop outbox).")
		}
		return exitUsage
	}
	printSalvage(c, r)
	if err != nil {
		fmt.Fprintf(c.stderr, "outbox spool salvage: stopped: %v\n", err)
		return exitError
	}
	if !r.Complete() {
		return exitError
	}
	return exitOK
}

func printSalvage(c *cli, r *store.SalvageReport) {
	fmt.Fprintf(c.stdout, "salvaged %s into %s: %d messages recovered (%d on hold for review), %d lost, %d quarantined records and %d bounce log rows copied\n",
		r.From, r.To, r.Recovered, len(r.Held), len(r.Lost), r.Quarantined, r.Bounces)
	section := func(title string, lines []string) {
		if len(lines) == 0 {
			return
		}
		fmt.Fprintf(c.stdout, "%s (%d):\n", title, len(lines))
		for _, l := range lines {
			fmt.Fprintf(c.stdout, "  %s\n", l)
		}
	}
	section("lost messages", r.Lost)
	section("unreadable pages", r.Unreadable)
	section("on hold: found on pages the freelist could not vouch for; review with `outbox queue show`, then release or delete", r.Held)
	section("notes", r.Notes)
	fmt.Fprintf(c.stdout, "Next: outbox spool check --spool %s, then point spool.dir at it (or move it in place of %s) and start the daemon.\n", r.To, r.From)
}
