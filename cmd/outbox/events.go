package main

import (
	"context"
	"encoding/json"
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

// runEvents prints the event log from --after on, oldest first, page by
// page until it is read; --follow then waits for new events (a long poll
// of the daemon, no polling) until interrupted, and across a restart of
// the daemon resumes from the last number printed. --json prints each event
// as one line of JSON, the shape of GET /v1/events and the webhooks.
func runEvents(ctx context.Context, c *cli, args []string) int {
	a := newAdminCmd(c, "events")
	after := a.fs.String("after", "0", "print events numbered above `SEQ`")
	follow := a.fs.Bool("follow", false, "keep printing new events until interrupted")
	asJSON := a.fs.Bool("json", false, "print one JSON object per event and line")
	if code, ok := a.parseNoArgs(args); !ok {
		return code
	}
	seq, err := strconv.ParseUint(*after, 10, 64)
	if err != nil {
		return a.usageError("--after: %q is not a sequence number", *after)
	}
	cl, err := a.client()
	if err != nil {
		return a.fail(err, "")
	}
	defer cl.Close()
	p := eventPrinter{w: c.stdout, json: *asJSON}
	waiting := false
	for {
		wait := admin.MaxEventsWait / 2
		if !*follow {
			wait = 0
		}
		evs, next, err := cl.Events(ctx, seq, 0, wait)
		switch {
		case err != nil && *follow && ctx.Err() != nil:
			return exitOK // interrupted
		case err != nil && *follow && !isRemote(err):
			// The daemon stopped or restarts: follow on once it is back,
			// from the same number, as tail -F does.
			if !waiting {
				fmt.Fprintf(c.stderr, "outbox events: %v; waiting for the daemon\n", err)
			}
			waiting = true
			select {
			case <-ctx.Done():
				return exitOK
			case <-time.After(time.Second):
			}
			continue
		case err != nil:
			return a.fail(err, "")
		}
		waiting = false
		if err := p.print(evs); err != nil {
			return a.fail(err, "")
		}
		seq = next
		if len(evs) == 0 && !*follow {
			break
		}
	}
	if !*asJSON && p.printed == 0 {
		fmt.Fprintln(c.stdout, "no events")
	}
	return exitOK
}

// isRemote reports whether err is the daemon's answer, rather than no
// answer.
func isRemote(err error) bool {
	var re *admin.RemoteError
	return errors.As(err, &re)
}

// eventPrinter writes events as a table, its header once, or as JSON
// lines.
type eventPrinter struct {
	w       io.Writer
	json    bool
	printed int
}

func (p *eventPrinter) print(evs []store.Event) error {
	if len(evs) == 0 {
		return nil
	}
	if p.json {
		enc := json.NewEncoder(p.w)
		for i := range evs {
			if err := enc.Encode(&evs[i]); err != nil {
				return err
			}
		}
		p.printed += len(evs)
		return nil
	}
	tw := tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)
	if p.printed == 0 {
		fmt.Fprintln(tw, "SEQ\tTIME\tTYPE\tID\tRECIPIENT\tATTEMPT\tDETAIL")
	}
	for i := range evs {
		e := &evs[i]
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\n", e.Seq, formatTime(e.Time), e.Type, e.QueueID,
			e.Recipient, e.Attempt, oneLine(eventDetail(e), 120))
	}
	p.printed += len(evs)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// eventDetail is the DETAIL column: a bounce's class, the reply, the
// host and when a deferred recipient is retried.
func eventDetail(e *store.Event) string {
	var parts []string
	if e.Class != "" {
		parts = append(parts, "["+e.Class+"]")
	}
	if r := e.Reply; r != (store.Reply{}) {
		reply := r.Text
		if r.Code != 0 || r.Enhanced != "" {
			reply = strings.TrimSpace(fmt.Sprintf("%s %s %s", codeOrEmpty(r.Code), r.Enhanced, r.Text))
		}
		parts = append(parts, reply)
	}
	if e.RemoteHost != "" {
		parts = append(parts, "host "+e.RemoteHost)
	}
	if !e.NextAttempt.IsZero() {
		parts = append(parts, "next "+formatTime(e.NextAttempt))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

func codeOrEmpty(code int) string {
	if code == 0 {
		return ""
	}
	return strconv.Itoa(code)
}
