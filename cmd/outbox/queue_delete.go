package main

import (
	"context"

	"github.com/outbox-mta/outbox/queue/admin"
)

// runQueueDelete removes the selected messages, bodies and records, from
// the queue (postsuper -d). A filtered selection is confirmed first.
func runQueueDelete(ctx context.Context, c *cli, args []string) int {
	return runSelectionVerb(ctx, c, "queue delete", "delete", "deleted", args, (*admin.Client).Delete)
}
