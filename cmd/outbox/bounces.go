package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/outbox-mta/outbox/queue/admin"
	"github.com/outbox-mta/outbox/store"
)

// runBounces prints the bounce log, oldest first: every recipient that
// failed permanently, since --since (default: the whole log). --json prints
// one JSON array of admin.Bounce.
func runBounces(ctx context.Context, c *cli, args []string) int {
	a := newAdminCmd(c, "queue bounces")
	since := a.fs.String("since", "", "only bounces since `T`: RFC 3339 (2025-03-01T12:00:00Z) or a duration ago (24h, 7d)")
	asJSON := a.fs.Bool("json", false, "print a JSON array")
	if code, ok := a.parseNoArgs(args); !ok {
		return code
	}
	now := time.Now()
	var from time.Time
	if *since != "" {
		t, err := parseSince(*since, now)
		if err != nil {
			return a.usageError("--since: %v", err)
		}
		from = t
	}
	cl, err := a.client()
	if err != nil {
		return a.fail(err, "")
	}
	defer cl.Close()
	bs, err := cl.Bounces(ctx, from)
	if err != nil {
		return a.fail(err, "")
	}
	if *asJSON {
		out := make([]admin.Bounce, len(bs))
		for i, b := range bs {
			out[i] = admin.NewBounce(b)
		}
		if err := writeJSON(c.stdout, out); err != nil {
			return a.fail(err, "")
		}
		return exitOK
	}
	printBounces(c.stdout, bs)
	return exitOK
}

// parseSince reads T of --since: an RFC 3339 time, or a duration meaning
// that long before now. Durations take Go's units plus "d" for days.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration like 24h or 7d", s)
		}
		if n > maxSinceDays {
			return time.Time{}, fmt.Errorf("%q: at most %dd", s, maxSinceDays)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration like 24h or 7d", s)
		}
	}
	if d < 0 {
		return time.Time{}, errors.New("a duration means that long ago and must not be negative")
	}
	return now.Add(-d), nil
}

// maxSinceDays bounds a --since of days, far past any spool's age, before
// it is multiplied into a time.Duration, which overflows past 106751 days.
const maxSinceDays = 36500

// printBounces writes the bounce log as a table.
func printBounces(w io.Writer, bs []store.Bounce) {
	if len(bs) == 0 {
		fmt.Fprintln(w, "no bounces")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tID\tSENDER\tRECIPIENT\tCODE\tATTEMPTS\tHOST\tDIAGNOSTIC")
	for _, b := range bs {
		code := "-"
		if b.Code != 0 {
			code = strings.TrimSpace(fmt.Sprintf("%d %s", b.Code, b.Enhanced))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", formatTime(b.Time), b.MsgID, sender(b.From),
			b.Rcpt, code, b.Attempts, orDash(b.Host), orDash(oneLine(b.Diag, 120)))
	}
	tw.Flush()
}
