package main

import (
	"context"

	"github.com/outbox-mta/outbox/queue/admin"
)

// runQueueHold stops delivery attempts for the selected messages until they
// are released (postsuper -h).
func runQueueHold(ctx context.Context, c *cli, args []string) int {
	return runSelectionVerb(ctx, c, "queue hold", "hold", "held", args, (*admin.Client).Hold)
}
