package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/outbox-mta/outbox/queue/admin"
	"github.com/outbox-mta/outbox/store"
)

// statsDomains is how many destination domains the table shows; --json
// has them all.
const statsDomains = 20

// runQueueStats prints the spool counted by recipient state and by
// destination domain, and the age of the oldest message awaiting delivery.
// --json prints the daemon's admin.Stats.
func runQueueStats(ctx context.Context, c *cli, args []string) int {
	a := newAdminCmd(c, "queue stats")
	asJSON := a.fs.Bool("json", false, "print a JSON object")
	ages := a.fs.Bool("ages", false, "add destination domains by message age, as qshape (minutes)")
	if code, ok := a.parseNoArgs(args); !ok {
		return code
	}
	cl, err := a.client()
	if err != nil {
		return a.fail(err, "")
	}
	defer cl.Close()
	stats := cl.Stats
	if *ages {
		stats = cl.StatsAges
	}
	s, err := stats(ctx)
	if err != nil {
		return a.fail(err, "")
	}
	if *asJSON {
		if err := writeJSON(c.stdout, s); err != nil {
			return a.fail(err, "")
		}
		return exitOK
	}
	printStats(c.stdout, s)
	if s.Ages != nil {
		printAges(c.stdout, *s.Ages)
	}
	return exitOK
}

// printAges writes the qshape table: a TOTAL row, then the destination
// domains with the most unfinished recipients, by message age in minutes.
func printAges(w io.Writer, a admin.Ages) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "DOMAIN\tT\t")
	for _, b := range a.Buckets {
		fmt.Fprintf(tw, "%s\t", b)
	}
	fmt.Fprintln(tw)
	row := func(name string, d admin.DomainAges) {
		fmt.Fprintf(tw, "%s\t%d\t", name, d.Total)
		for _, n := range d.Counts {
			fmt.Fprintf(tw, "%d\t", n)
		}
		fmt.Fprintln(tw)
	}
	row("TOTAL", a.Total)
	for i, d := range a.Domains {
		if i == statsDomains {
			fmt.Fprintf(tw, "(%d more: --json)\t\n", len(a.Domains)-statsDomains)
			break
		}
		row(d.Domain, d)
	}
	tw.Flush()
}

func printStats(w io.Writer, s admin.Stats) {
	fmt.Fprintf(w, "messages: %d (%d pending)\n", s.Messages, s.Pending)
	if s.Quarantined > 0 {
		fmt.Fprintf(w, "quarantined: %d (unreadable, never attempted: outbox queue list)\n", s.Quarantined)
	}
	if s.Oldest.IsZero() {
		fmt.Fprintln(w, "oldest pending: none")
	} else {
		fmt.Fprintf(w, "oldest pending: %s (%s, received %s)\n", formatDuration(s.Now.Sub(s.Oldest)), s.OldestID, formatTime(s.Oldest))
	}
	printDispatch(w, s)
	printThrottles(w, s)
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "STATE\tRECIPIENTS\t")
	for st := store.StateQueued; st <= store.StateHeld; st++ {
		fmt.Fprintf(tw, "%s\t%d\t\n", st, s.ByState[st.String()])
	}
	tw.Flush()
	if len(s.ByDomain) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "DOMAIN\tQUEUED\tDEFERRED\tHELD\t")
	for i, d := range s.ByDomain {
		if i == statsDomains {
			fmt.Fprintf(tw, "(%d more: --json)\t\t\t\t\n", len(s.ByDomain)-statsDomains)
			break
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t\n", d.Domain, d.Queued, d.Deferred, d.Held)
	}
	tw.Flush()
}

// printDispatch says, when it is so, that delivery is paused because the
// spool refuses commits, and how many outcomes could not be recorded.
func printDispatch(w io.Writer, s admin.Stats) {
	d := s.Dispatch
	if d == nil {
		return
	}
	if d.Paused {
		fmt.Fprintf(w, "delivery: PAUSED for %s (since %s): the spool refuses commits: %s\n",
			formatDuration(s.Now.Sub(d.Since)), formatTime(d.Since), d.Reason)
	}
	if d.CommitFailures > 0 {
		fmt.Fprintf(w, "outcome commit failures: %d (%d messages waiting out a back-off)\n", d.CommitFailures, d.CommitBackoff)
	}
}

// printThrottles writes the destinations traffic shaping holds back.
func printThrottles(w io.Writer, s admin.Stats) {
	if len(s.Throttled) == 0 {
		return
	}
	fmt.Fprintln(w, "\nheld back by traffic shaping:")
	for _, t := range s.Throttled {
		line := fmt.Sprintf("  %s: %s", t.Destination, t.State)
		if t.PerMinute > 0 {
			line += fmt.Sprintf(", %.4g msg/min", t.PerMinute)
		}
		if !t.Until.IsZero() {
			line += " until " + formatTime(t.Until)
		}
		if !t.Since.IsZero() {
			line += " since " + formatTime(t.Since)
		}
		if t.Reply != "" {
			line += fmt.Sprintf(" after %q", t.Reply)
		}
		if t.Shared {
			line += fmt.Sprintf(" (shared by every node: %d in flight, %d deferred to a slot; %d here waiting for a connection)", t.InFlight, t.Reserved, t.Parked)
		} else {
			line += fmt.Sprintf(" (%d in flight, %d waiting for a connection, %d deferred to a slot)", t.InFlight, t.Parked, t.Reserved)
		}
		fmt.Fprintln(w, line)
	}
}
