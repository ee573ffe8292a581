package main

import (
	"context"

	"github.com/outbox-mta/outbox/queue/admin"
)

// runQueueRelease resumes delivery of a held message.
func runQueueRelease(ctx context.Context, c *cli, args []string) int {
	return runOnMessage(ctx, c, "queue release", args, (*admin.Client).Release, "released")
}
