package main

import (
	"context"
	"fmt"
)

// runQueueFlush makes pending recipients due now: of one message (ID), of
// one destination domain (--domain D), or of the whole queue (--all).
// Exactly one of the three must be given.
func runQueueFlush(ctx context.Context, c *cli, args []string) int {
	a := newAdminCmd(c, "queue flush")
	domain := a.fs.String("domain", "", "flush every message with a pending recipient in `domain`")
	all := a.fs.Bool("all", false, "flush the whole queue")
	pos, code, ok := a.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 1 {
		return a.usageError("want at most one message ID, got %d arguments", len(pos))
	}
	n := len(pos)
	if *domain != "" {
		n++
	}
	if *all {
		n++
	}
	if n != 1 {
		return a.usageError("give exactly one of ID, --domain D and --all")
	}
	cl, err := a.client()
	if err != nil {
		return a.fail(err, "")
	}
	defer cl.Close()
	switch {
	case len(pos) == 1:
		if err := cl.Flush(ctx, pos[0]); err != nil {
			return a.fail(err, pos[0])
		}
		fmt.Fprintf(c.stdout, "%s: flushed\n", pos[0])
	case *domain != "":
		n, err := cl.FlushDomain(ctx, *domain)
		if err != nil {
			return a.fail(err, "")
		}
		fmt.Fprintf(c.stdout, "flushed %d messages for %s\n", n, *domain)
	default:
		n, err := cl.FlushAll(ctx)
		if err != nil {
			return a.fail(err, "")
		}
		fmt.Fprintf(c.stdout, "flushed %d messages\n", n)
	}
	return exitOK
}
