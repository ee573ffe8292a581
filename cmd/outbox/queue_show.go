package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/outbox-mta/outbox/queue/admin"
	"github.com/outbox-mta/outbox/store"
)

// runQueueShow prints one message: envelope, per-recipient state and
// attempt history, then the header block. --json prints
// {"message": admin.Message, "headers": "...", "explain": [admin.Explanation]}.
func runQueueShow(ctx context.Context, c *cli, args []string) int {
	a := newAdminCmd(c, "queue show")
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
	m, err := cl.Get(ctx, id)
	if err != nil {
		return a.fail(err, id)
	}
	headers, err := cl.Headers(ctx, id)
	if err != nil {
		return a.fail(err, id)
	}
	// Why each pending recipient waits; a daemon without explain (501)
	// leaves it out rather than failing the whole show.
	explain, _ := cl.Explain(ctx, id)
	if *asJSON {
		out := struct {
			Message admin.Message       `json:"message"`
			Headers string              `json:"headers"`
			Explain []admin.Explanation `json:"explain,omitempty"`
		}{admin.NewMessage(m), headers, explain}
		if err := writeJSON(c.stdout, out); err != nil {
			return a.fail(err, "")
		}
		return exitOK
	}
	printMessage(c.stdout, m, headers, time.Now())
	if len(explain) > 0 {
		fmt.Fprintln(c.stdout, "\nwaiting:")
		printExplanations(c.stdout, explain, time.Now())
	}
	return exitOK
}

// printMessage writes the text form of `queue show`.
func printMessage(w io.Writer, m *store.Message, headers string, now time.Time) {
	field := func(name, value string) {
		if value != "" {
			fmt.Fprintf(w, "%-10s %s\n", name+":", value)
		}
	}
	field("id", m.ID)
	field("from", sender(m.From))
	field("received", fmt.Sprintf("%s (%s ago)", formatTime(m.Received), formatDuration(now.Sub(m.Received))))
	field("size", fmt.Sprintf("%d bytes", m.Size))
	field("client", m.Client)
	field("user", m.User)
	if m.AtLeastOne != nil {
		field("at-least-one", fmt.Sprint(*m.AtLeastOne))
	}
	if m.DSNPending {
		field("dsn", "pending")
	}
	field("dsn-id", m.DSNID)
	// The DSN parameters of MAIL (RFC 3461 §4.3, §4.4).
	field("envid", m.EnvID)
	field("ret", m.Ret.String())
	if !m.DeliverAfter.IsZero() {
		field("scheduled", formatTime(m.DeliverAfter))
	}
	if !m.ExpireAt.IsZero() {
		field("expires", formatTime(m.ExpireAt))
	}
	if m.Priority != store.PriorityNormal {
		field("priority", m.Priority.String())
	}
	if m.IgnoreSuppressions {
		field("suppress", "ignored: sent to suppressed addresses too")
	}
	field("tags", strings.Join(m.Tags, " "))
	field("tls-req", m.TLSReq.String())
	for _, k := range slices.Sorted(maps.Keys(m.Metadata)) {
		field("meta", k+"="+strconv.Quote(m.Metadata[k]))
	}
	if len(m.Signed) > 0 {
		field("dkim", "signed by "+strings.Join(m.Signed, ", "))
	} else {
		field("dkim", "unsigned")
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "recipients:")
	for _, r := range m.Recipients {
		line := fmt.Sprintf("  %s  %s  attempts %d", r.Addr, r.State, r.Attempts)
		if (r.State == store.StateQueued || r.State == store.StateDeferred) && !r.NextAttempt.IsZero() {
			line += "  next " + formatTime(r.NextAttempt)
		}
		fmt.Fprintln(w, line)
		if p := rcptDSN(r); p != "" {
			fmt.Fprintf(w, "    dsn: %s\n", p)
		}
		if r.LastReply != "" {
			fmt.Fprintf(w, "    last reply: %s\n", oneLine(r.LastReply, 200))
		}
		for _, h := range r.History {
			fmt.Fprintf(w, "    %s  %s  %s  host %s  tls %s  %s\n",
				formatTime(h.Time), h.Result, replyCode(h), orDash(h.Host), orDash(h.TLS), oneLine(h.Reply, 200))
			if t := attemptTLS(h.TLSInfo); t != "" {
				fmt.Fprintf(w, "      %s\n", t)
			}
		}
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "headers:")
	for _, line := range strings.Split(strings.TrimRight(headers, "\r\n"), "\n") {
		fmt.Fprintf(w, "  %s\n", strings.TrimRight(line, "\r"))
	}
}

// rcptDSN is the DSN parameters of RCPT (RFC 3461 §4.1, §4.2) as
// "notify=SUCCESS,FAILURE orcpt=rfc822;addr"; "" when none was given.
func rcptDSN(r store.Recipient) string {
	var parts []string
	if k := r.Notify.Keywords(); len(k) > 0 {
		parts = append(parts, "notify="+strings.Join(k, ","))
	}
	if r.ORcpt != "" {
		parts = append(parts, "orcpt="+oneLine(r.ORcpt, 200))
	}
	return strings.Join(parts, " ")
}

// replyCode is "550 5.1.1", or "-" when the attempt got no reply.
func replyCode(a store.Attempt) string {
	if a.Code == 0 {
		return "-"
	}
	return strings.TrimSpace(fmt.Sprintf("%d %s", a.Code, a.Enhanced))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// attemptTLS is the TLS outcome line of an attempt: "verified-by mta-sts
// policy mta-sts enforce example.com"; "" when none was recorded.
func attemptTLS(t store.AttemptTLS) string {
	var parts []string
	if t.VerifiedBy != "" {
		parts = append(parts, "verified-by "+t.VerifiedBy)
	}
	if t.Policy != "" {
		parts = append(parts, "policy "+t.Policy)
	}
	if t.Failure != "" {
		parts = append(parts, "tls-failure "+oneLine(t.Failure, 200))
	}
	return strings.Join(parts, "  ")
}
