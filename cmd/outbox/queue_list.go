package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/outbox-mta/outbox/queue/admin"
	"github.com/outbox-mta/outbox/store"
)

// listPage is how many messages `queue list` asks the daemon for at once.
const listPage = 200

// runQueueList prints the queue like postqueue -p: one line per message (ID,
// age, size, sender), then one indented line per recipient with its state
// and next attempt. --json prints one JSON array of admin.Message.
func runQueueList(ctx context.Context, c *cli, args []string) int {
	a := newAdminCmd(c, "queue list")
	state := a.fs.String("state", "", "only messages with a recipient in `state` (queued, deferred, delivered, bounced, held)")
	domain := a.fs.String("domain", "", "only messages with a recipient in `domain`")
	limit := a.fs.Int("limit", 0, "show at most `N` messages (0: all)")
	done := a.fs.Bool("done", false, "include messages whose recipients are all delivered or bounced")
	asJSON := a.fs.Bool("json", false, "print a JSON array (with --limit, an object: messages, total, next)")
	sender := a.fs.String("sender", "", "only messages from envelope sender `addr` (<> for the null sender)")
	rcpt := a.fs.String("recipient", "", "only messages to recipient `addr`")
	older := a.fs.Duration("older-than", 0, "only messages received longer ago than `duration`")
	newer := a.fs.Duration("newer-than", 0, "only messages received less than `duration` ago")
	after := a.fs.String("after", "", "start after message `ID` (the next page's cursor)")
	if code, ok := a.parseNoArgs(args); !ok {
		return code
	}
	if *older < 0 || *newer < 0 {
		return a.usageError("--older-than and --newer-than must not be negative")
	}
	now := time.Now()
	f := store.Filter{Domain: *domain, Done: *done, Sender: *sender, Recipient: *rcpt, After: *after}
	if *older > 0 {
		f.ReceivedBefore = now.Add(-*older)
	}
	if *newer > 0 {
		f.ReceivedAfter = now.Add(-*newer)
	}
	if *state != "" {
		st, ok := store.ParseState(*state)
		if !ok {
			return a.usageError("unknown state %q", *state)
		}
		f.State = st
	}
	if *limit < 0 {
		return a.usageError("--limit must not be negative")
	}
	cl, err := a.client()
	if err != nil {
		return a.fail(err, "")
	}
	defer cl.Close()

	msgs, next, err := listAll(ctx, cl, f, *limit)
	if err != nil {
		return a.fail(err, "")
	}
	if *limit > 0 {
		return a.printPage(ctx, cl, f, msgs, next, *asJSON)
	}
	if *asJSON {
		out := make([]admin.Message, len(msgs))
		for i, m := range msgs {
			out[i] = admin.NewMessage(m)
		}
		if err := writeJSON(c.stdout, out); err != nil {
			return a.fail(err, "")
		}
		return exitOK
	}
	qs, err := cl.Quarantined(ctx)
	if err != nil {
		return a.fail(err, "")
	}
	printQueue(c.stdout, msgs, now, filtered(f))
	printQuarantined(c.stdout, qs, now)
	return exitOK
}

// filtered reports whether f narrows the listing, so that an empty answer
// means "no messages match" rather than an empty queue.
func filtered(f store.Filter) bool {
	return f.State != 0 || f.Domain != "" || f.Sender != "" || f.Recipient != "" || f.After != "" ||
		!f.ReceivedBefore.IsZero() || !f.ReceivedAfter.IsZero()
}

// listPageJSON is the --json output of a list cut by --limit.
type listPageJSON struct {
	Messages []admin.Message `json:"messages"`
	Total    int             `json:"total"`          // every message the filter matches
	Next     string          `json:"next,omitempty"` // --after of the next page
}

// printPage prints one page cut by --limit with the total number of
// matching messages and the cursor of the next page.
func (a *adminCmd) printPage(ctx context.Context, cl *admin.Client, f store.Filter, msgs []*store.Message, next string, asJSON bool) int {
	f.After = ""
	total, err := cl.Count(ctx, f)
	if err != nil {
		return a.fail(err, "")
	}
	if asJSON {
		out := listPageJSON{Messages: make([]admin.Message, len(msgs)), Total: total, Next: next}
		for i, m := range msgs {
			out.Messages[i] = admin.NewMessage(m)
		}
		if err := writeJSON(a.c.stdout, out); err != nil {
			return a.fail(err, "")
		}
		return exitOK
	}
	printQueue(a.c.stdout, msgs, time.Now(), filtered(f) || total > 0)
	fmt.Fprintf(a.c.stdout, "-- %d shown of %d matching", len(msgs), total)
	if next != "" {
		fmt.Fprintf(a.c.stdout, "; next page: --after %s", next)
	}
	fmt.Fprintln(a.c.stdout)
	return exitOK
}

// printQuarantined lists the messages set aside as unreadable after the
// queue: they are in no state a filter selects and are never attempted, so
// they are shown whatever the filter.
func printQuarantined(w io.Writer, qs []admin.Quarantined, now time.Time) {
	if len(qs) == 0 {
		return
	}
	fmt.Fprintf(w, "\n-- %d quarantined (unreadable, never attempted; outbox queue delete ID once dealt with):\n", len(qs))
	for _, q := range qs {
		fmt.Fprintf(w, "%s  %6s  %s  %s\n", q.ID, formatDuration(now.Sub(q.Time)), sender(q.From), oneLine(q.Reason, 160))
		for _, r := range q.Recipients {
			fmt.Fprintf(w, "    %s\n", r)
		}
	}
}

// listAll fetches pages until the daemon reports the last one, or until max
// messages (0: no limit). next is the cursor after the last message
// returned, "" when no more match.
func listAll(ctx context.Context, cl *admin.Client, f store.Filter, max int) (all []*store.Message, next string, err error) {
	for {
		f.Limit = listPage
		if max > 0 {
			f.Limit = min(listPage, max-len(all))
		}
		page, next, err := cl.List(ctx, f)
		if err != nil {
			return nil, "", err
		}
		all = append(all, page...)
		if next == "" || (max > 0 && len(all) >= max) {
			return all, next, nil
		}
		f.After = next
	}
}

// printQueue writes the table of `queue list`, ages relative to now; an
// empty filtered listing says that nothing matches, not that the queue is
// empty.
func printQueue(w io.Writer, msgs []*store.Message, now time.Time, filtered bool) {
	switch {
	case len(msgs) == 0 && filtered:
		fmt.Fprintln(w, "no messages match")
		return
	case len(msgs) == 0:
		fmt.Fprintln(w, "queue is empty")
		return
	}
	idw := len("ID")
	sizew := len("SIZE")
	for _, m := range msgs {
		idw = max(idw, len(m.ID))
		sizew = max(sizew, len(strconv.FormatInt(m.Size, 10)))
	}
	fmt.Fprintf(w, "%-*s  %6s  %*s  %s\n", idw, "ID", "AGE", sizew, "SIZE", "SENDER")
	var bytes int64
	rcpts := 0
	for _, m := range msgs {
		fmt.Fprintf(w, "%-*s  %6s  %*d  %s\n", idw, m.ID, formatDuration(now.Sub(m.Received)), sizew, m.Size, sender(m.From))
		for _, r := range m.Recipients {
			fmt.Fprintf(w, "    %-9s  %s%s\n", r.State, r.Addr, recipientNote(r, now))
		}
		bytes += m.Size
		rcpts += len(m.Recipients)
	}
	fmt.Fprintf(w, "-- %d messages, %d recipients, %d bytes\n", len(msgs), rcpts, bytes)
}

// recipientNote is what follows a recipient in the table: when it is next
// tried, and why the last attempt failed.
func recipientNote(r store.Recipient, now time.Time) string {
	note := ""
	if (r.State == store.StateQueued || r.State == store.StateDeferred) && !r.NextAttempt.IsZero() {
		if d := r.NextAttempt.Sub(now); d > 0 {
			note = "  next in " + formatDuration(d)
		} else {
			note = "  due now"
		}
	}
	if r.State != store.StateDelivered && r.LastReply != "" {
		note += fmt.Sprintf("  (%d attempts: %s)", r.Attempts, oneLine(r.LastReply, 100))
	}
	return note
}
