package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/outbox-mta/outbox/store"
)

// runWebhooksRedeliver resumes a webhook endpoint (every failed one
// without ENDPOINT) from its cursor at once.
func runWebhooksRedeliver(ctx context.Context, c *cli, args []string) int {
	a := newAdminCmd(c, "webhooks redeliver")
	pos, code, ok := a.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 1 {
		return a.usageError("one endpoint at most, got %q", strings.Join(pos, " "))
	}
	name := ""
	if len(pos) == 1 {
		name = pos[0]
	}
	cl, err := a.client()
	if err != nil {
		return a.fail(err, "")
	}
	defer cl.Close()
	names, err := cl.RedeliverWebhooks(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		fmt.Fprintf(c.stderr, "outbox %s: %v (see outbox webhooks status)\n", a.name, err)
		return exitError
	}
	if err != nil {
		return a.fail(err, "")
	}
	if len(names) == 0 {
		fmt.Fprintln(c.stdout, "no failed webhook endpoint")
		return exitOK
	}
	fmt.Fprintf(c.stdout, "resumed from their cursors: %s\n", strings.Join(names, ", "))
	return exitOK
}
