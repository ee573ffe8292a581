package main

import (
	"context"

	"github.com/outbox-mta/outbox/queue/admin"
)

// runQueueDelete removes a message, body and record, from the queue.
func runQueueDelete(ctx context.Context, c *cli, args []string) int {
	return runOnMessage(ctx, c, "queue delete", args, (*admin.Client).Delete, "deleted")
}
