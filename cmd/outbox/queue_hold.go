package main

import (
	"context"

	"github.com/outbox-mta/outbox/queue/admin"
)

// runQueueHold stops delivery attempts for a message until it is released.
func runQueueHold(ctx context.Context, c *cli, args []string) int {
	return runOnMessage(ctx, c, "queue hold", args, (*admin.Client).Hold, "held")
}
