package main

import (
	"context"

	"github.com/outbox-mta/outbox/queue/admin"
)

// runQueueRelease returns the selected held messages to the queue, due now
// (postsuper -H).
func runQueueRelease(ctx context.Context, c *cli, args []string) int {
	return runSelectionVerb(ctx, c, "queue release", "release", "released", args, (*admin.Client).Release)
}
