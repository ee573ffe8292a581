package main

import (
	"context"
	"fmt"

	"github.com/outbox-mta/outbox/queue/admin"
)

// runQueueFlush makes pending recipients due now: of one message (ID), of
// one destination domain (--domain D alone), of the whole queue (--all
// alone), or of any other selection (bulk.go) in one request.
func runQueueFlush(ctx context.Context, c *cli, args []string) int {
	b := newBulkCmd(c, "queue flush", "flush")
	pos, code, ok := b.parse(args)
	if !ok {
		return code
	}
	r := b.req
	other := *b.dryRun || r.State != "" || r.Sender != "" || r.Recipient != "" || r.OlderThan != ""
	switch {
	case len(pos) == 1 && pos[0] != "-" && !b.bulkFlags():
		return runOne(ctx, b.adminCmd, pos[0], (*admin.Client).Flush, "flushed")
	case len(pos) == 0 && !other && r.Domain != "" && !*b.all:
		return b.legacy(func(cl *admin.Client) (int, error) { return cl.FlushDomain(ctx, r.Domain) }, " for "+r.Domain)
	case len(pos) == 0 && !other && r.Domain == "" && *b.all:
		return b.legacy(func(cl *admin.Client) (int, error) { return cl.FlushAll(ctx) }, "")
	}
	return b.run(ctx, pos, "flushed")
}

// legacy runs a domain or whole-queue flush and prints its count.
func (b *bulkCmd) legacy(flush func(*admin.Client) (int, error), suffix string) int {
	cl, err := b.client()
	if err != nil {
		return b.fail(err, "")
	}
	defer cl.Close()
	n, err := flush(cl)
	if err != nil {
		return b.fail(err, "")
	}
	fmt.Fprintf(b.c.stdout, "flushed %d messages%s\n", n, suffix)
	return exitOK
}
