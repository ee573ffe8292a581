package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/outbox-mta/outbox/queue/admin"
	"github.com/outbox-mta/outbox/store"
)

// runSuppressionsList prints the suppression list in address order,
// expired entries marked; --json prints a JSON array of admin.Suppression.
func runSuppressionsList(ctx context.Context, c *cli, args []string) int {
	a := newAdminCmd(c, "suppressions list")
	asJSON := a.fs.Bool("json", false, "print a JSON array")
	if code, ok := a.parseNoArgs(args); !ok {
		return code
	}
	cl, err := a.client()
	if err != nil {
		return a.fail(err, "")
	}
	defer cl.Close()
	list, err := cl.Suppressions(ctx, "", 0)
	if err != nil {
		return a.fail(err, "")
	}
	if *asJSON {
		if list == nil {
			list = []admin.Suppression{}
		}
		if err := writeJSON(c.stdout, list); err != nil {
			return a.fail(err, "")
		}
		return exitOK
	}
	printSuppressions(c.stdout, list)
	return exitOK
}

// printSuppressions writes the list as a table.
func printSuppressions(w io.Writer, list []admin.Suppression) {
	if len(list) == 0 {
		fmt.Fprintln(w, "no suppressed addresses")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tREASON\tSINCE\tEXPIRES\tID\tREPLY")
	for _, s := range list {
		exp := formatTime(s.Expires)
		if !s.Active {
			exp += " (expired)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Address, s.Reason, formatTime(s.Created), exp,
			orDash(s.MessageID), orDash(oneLine(s.Reply, 100)))
	}
	tw.Flush()
}

// runSuppressionsAdd puts an address on the suppression list by hand.
func runSuppressionsAdd(ctx context.Context, c *cli, args []string) int {
	a := newAdminCmd(c, "suppressions add")
	note := a.fs.String("note", "", "why, kept with the entry")
	expires := a.fs.String("expires", "", "end the entry at `T`: RFC 3339, or a duration from now (30d, 12h); default never")
	pos, code, ok := a.parse(args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return a.usageError("want one ADDRESS")
	}
	if store.NormalizeAddress(pos[0]) == "" {
		return a.usageError("%q is not an address (local@domain)", pos[0])
	}
	req := admin.SuppressRequest{Address: pos[0], Note: *note}
	if *expires != "" {
		t, err := parseUntil(*expires, time.Now())
		if err != nil {
			return a.usageError("--expires: %v", err)
		}
		req.Expires = t
	}
	cl, err := a.client()
	if err != nil {
		return a.fail(err, "")
	}
	defer cl.Close()
	s, err := cl.Suppress(ctx, req)
	if err != nil {
		return a.fail(err, "")
	}
	fmt.Fprintf(c.stdout, "suppressed %s\n", s.Address)
	return exitOK
}

// parseUntil reads T of --expires: an RFC 3339 time in the future, or a
// duration from now.
func parseUntil(s string, now time.Time) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		ago, err := parseSince(s, now) // the same forms, counted back
		if err != nil {
			return time.Time{}, err
		}
		t = now.Add(now.Sub(ago))
	}
	if !t.After(now) {
		return time.Time{}, errors.New("must be in the future")
	}
	return t, nil
}

// runSuppressionsRemove takes addresses off the suppression list, so the
// next message to each is attempted.
func runSuppressionsRemove(ctx context.Context, c *cli, args []string) int {
	a := newAdminCmd(c, "suppressions remove")
	pos, code, ok := a.parse(args)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		return a.usageError("want at least one ADDRESS")
	}
	cl, err := a.client()
	if err != nil {
		return a.fail(err, "")
	}
	defer cl.Close()
	status := exitOK
	for _, addr := range pos {
		switch err := cl.Unsuppress(ctx, addr); {
		case errors.Is(err, store.ErrNotFound):
			fmt.Fprintf(c.stderr, "not suppressed: %s\n", addr)
			status = exitError
		case err != nil:
			return a.fail(err, "")
		default:
			fmt.Fprintf(c.stdout, "removed %s\n", store.NormalizeAddress(addr))
		}
	}
	return status
}
