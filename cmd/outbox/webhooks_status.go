package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"
)

// runWebhooksStatus prints each webhook endpoint: its cursor against the
// newest event, whether it is failed, since when it fails and why, and
// when it is tried next.
func runWebhooksStatus(ctx context.Context, c *cli, args []string) int {
	a := newAdminCmd(c, "webhooks status")
	asJSON := a.fs.Bool("json", false, "print JSON")
	if code, ok := a.parseNoArgs(args); !ok {
		return code
	}
	cl, err := a.client()
	if err != nil {
		return a.fail(err, "")
	}
	defer cl.Close()
	eps, last, err := cl.WebhookEndpoints(ctx)
	if err != nil {
		return a.fail(err, "")
	}
	if *asJSON {
		if err := writeJSON(c.stdout, map[string]any{"endpoints": eps, "last_event": last}); err != nil {
			return a.fail(err, "")
		}
		return exitOK
	}
	if len(eps) == 0 {
		fmt.Fprintln(c.stdout, "no webhooks configured")
		return exitOK
	}
	now := time.Now()
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "ENDPOINT\tSTATE\tCURSOR\tNEXT\tDELIVERED\tFAILURES\tURL\tLAST ERROR\n")
	for _, e := range eps {
		state := "ok"
		switch {
		case e.Failed:
			state = "FAILED for " + formatDuration(now.Sub(e.FailingSince))
		case !e.FailingSince.IsZero():
			state = "retrying for " + formatDuration(now.Sub(e.FailingSince))
		}
		next := "-"
		if !e.NextAttempt.IsZero() {
			next = "in " + formatDuration(e.NextAttempt.Sub(now))
		}
		lastErr := e.LastError
		if lastErr == "" {
			lastErr = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\t%d\t%d\t%s\t%s\n", e.Name, state, e.Cursor, last, next,
			e.Delivered, e.Failures, e.URL, oneLine(lastErr, 100))
	}
	if err := tw.Flush(); err != nil {
		return a.fail(err, "")
	}
	return exitOK
}
