package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/outbox-mta/outbox/queue/admin"
)

// runQueueExplain prints, for each pending recipient of a message, why it
// waits and until when, in one sentence. --json prints
// {"id": ..., "recipients": [admin.Explanation...]}.
func runQueueExplain(ctx context.Context, c *cli, args []string) int {
	a := newAdminCmd(c, "queue explain")
	asJSON := a.fs.Bool("json", false, "print JSON")
	id, code, ok := a.parseID(args)
	if !ok {
		return code
	}
	cl, err := a.client()
	if err != nil {
		return a.fail(err, "")
	}
	defer cl.Close()
	es, err := cl.Explain(ctx, id)
	if err != nil {
		return a.fail(err, id)
	}
	if *asJSON {
		out := struct {
			ID         string              `json:"id"`
			Recipients []admin.Explanation `json:"recipients"`
		}{id, es}
		if err := writeJSON(c.stdout, out); err != nil {
			return a.fail(err, "")
		}
		return exitOK
	}
	printExplanations(c.stdout, es, time.Now())
	return exitOK
}

// printExplanations writes one block per pending recipient: address,
// reason and next time, then the sentence.
func printExplanations(w io.Writer, es []admin.Explanation, now time.Time) {
	if len(es) == 0 {
		fmt.Fprintln(w, "no pending recipient: every recipient is delivered or bounced")
		return
	}
	for _, e := range es {
		when := ""
		if !e.Until.IsZero() {
			if d := e.Until.Sub(now); d > 0 {
				when = fmt.Sprintf(" until %s (in %s)", formatTime(e.Until), formatDuration(d))
			} else {
				when = " (due now)"
			}
		}
		fmt.Fprintf(w, "%s: %s%s\n  %s\n", e.Rcpt, e.Reason, when, e.Sentence)
	}
}
