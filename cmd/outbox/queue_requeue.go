package main

import "context"

// runQueueRequeue makes the selected messages' pending recipients due now
// and drops every destination's back-off, so the next attempt routes by the
// current configuration (postsuper -r).
func runQueueRequeue(ctx context.Context, c *cli, args []string) int {
	b := newBulkCmd(c, "queue requeue", "requeue")
	pos, code, ok := b.parse(args)
	if !ok {
		return code
	}
	return b.run(ctx, pos, "requeued")
}
