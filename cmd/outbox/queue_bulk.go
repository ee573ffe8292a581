package main

// The selection shared by hold, release, delete, flush and requeue, as
// postsuper takes it: message IDs as arguments, "-" for IDs read from
// stdin, or --all narrowed by filters. Everything selected is acted on in
// one admin request.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/outbox-mta/outbox/queue/admin"
)

// bulkCmd is an admin verb's flags with the selection flags.
type bulkCmd struct {
	*adminCmd
	op     string // the admin bulk operation
	all    *bool
	dryRun *bool
	yes    *bool
	req    admin.BulkRequest
}

// newBulkCmd prepares verb name, whose bulk operation is op.
func newBulkCmd(c *cli, name, op string) *bulkCmd {
	b := &bulkCmd{adminCmd: newAdminCmd(c, name), op: op}
	fs := b.fs
	b.all = fs.Bool("all", false, "select every message the filters match")
	fs.StringVar(&b.req.State, "state", "", "with --all: messages with a recipient in `state` (queued, deferred, held, ...)")
	fs.StringVar(&b.req.Domain, "domain", "", "messages with a recipient in `domain`")
	fs.StringVar(&b.req.Sender, "sender", "", "messages from envelope sender `addr` (<> for the null sender)")
	fs.StringVar(&b.req.Recipient, "recipient", "", "messages to recipient `addr`")
	fs.StringVar(&b.req.OlderThan, "older-than", "", "messages received longer ago than `duration` (90m, 48h)")
	b.dryRun = fs.Bool("dry-run", false, "only say how many messages would be selected")
	b.yes = fs.Bool("yes", false, "delete a filtered selection without asking")
	return b
}

// bulkFlags reports whether a flag beyond a plain single-ID call was given.
func (b *bulkCmd) bulkFlags() bool {
	r := b.req
	return *b.all || *b.dryRun || r.State != "" || r.Domain != "" || r.Sender != "" || r.Recipient != "" || r.OlderThan != ""
}

// run sends the bulk request for the positional arguments pos and prints
// "OP N messages" (past tense done) or the dry run's count.
func (b *bulkCmd) run(ctx context.Context, pos []string, done string) int {
	ids, err := readIDs(pos, b.c.stdin)
	if err != nil {
		return b.fail(err, "")
	}
	if len(pos) > 0 && *b.all {
		return b.usageError("give message IDs or --all, not both")
	}
	if len(pos) == 0 && !*b.all {
		return b.usageError("give message IDs, - (IDs on stdin) or --all")
	}
	if len(pos) > 0 && len(ids) == 0 {
		fmt.Fprintln(b.c.stdout, "no message IDs given")
		return exitOK
	}
	cl, err := b.client()
	if err != nil {
		return b.fail(err, "")
	}
	defer cl.Close()
	b.req.Op, b.req.IDs, b.req.All = b.op, ids, *b.all
	if *b.dryRun {
		b.req.DryRun = true
		n, err := cl.Bulk(ctx, b.req)
		if err != nil {
			return b.fail(err, "")
		}
		fmt.Fprintf(b.c.stdout, "%d messages match (dry run: nothing %s)\n", n, done)
		return exitOK
	}
	if b.op == "delete" && *b.all && !*b.yes {
		if code, ok := b.confirm(ctx, cl); !ok {
			return code
		}
	}
	n, err := cl.Bulk(ctx, b.req)
	if err != nil {
		return b.fail(err, "")
	}
	fmt.Fprintf(b.c.stdout, "%s %d messages\n", done, n)
	return exitOK
}

// confirm asks the operator on the terminal before a filtered delete; a
// caller without a terminal must say --yes.
func (b *bulkCmd) confirm(ctx context.Context, cl *admin.Client) (int, bool) {
	f, ok := b.c.stdin.(*os.File)
	if !ok || !isTerminal(f) {
		fmt.Fprintf(b.c.stderr, "outbox %s: refusing to delete a filtered selection without confirmation: no terminal to ask on; give --yes\n", b.name)
		return exitError, false
	}
	count := b.req
	count.DryRun = true
	n, err := cl.Bulk(ctx, count)
	if err != nil {
		return b.fail(err, ""), false
	}
	fmt.Fprintf(b.c.stderr, "delete %d messages? [y/N] ", n)
	line, _ := bufio.NewReader(f).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
		fmt.Fprintln(b.c.stderr, "nothing deleted")
		return exitError, false
	}
	return 0, true
}

// readIDs expands the positional arguments: "-" reads IDs, separated by
// white space, from stdin.
func readIDs(pos []string, stdin io.Reader) ([]string, error) {
	var ids []string
	for _, p := range pos {
		if p != "-" {
			ids = append(ids, p)
			continue
		}
		sc := bufio.NewScanner(stdin)
		sc.Split(bufio.ScanWords)
		for sc.Scan() {
			ids = append(ids, sc.Text())
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("reading IDs from stdin: %w", err)
		}
	}
	return ids, nil
}

// runSelectionVerb is hold, release and delete: one plain ID keeps the
// single-message call and its "ID: done" line; anything else is one bulk
// request.
func runSelectionVerb(ctx context.Context, c *cli, name, op, done string, args []string,
	one func(*admin.Client, context.Context, string) error) int {
	b := newBulkCmd(c, name, op)
	pos, code, ok := b.parse(args)
	if !ok {
		return code
	}
	if len(pos) == 1 && pos[0] != "-" && !b.bulkFlags() {
		return runOne(ctx, b.adminCmd, pos[0], one, done)
	}
	return b.run(ctx, pos, done)
}

// runOne calls op on one message ID and prints "ID: done".
func runOne(ctx context.Context, a *adminCmd, id string, op func(*admin.Client, context.Context, string) error, done string) int {
	cl, err := a.client()
	if err != nil {
		return a.fail(err, "")
	}
	defer cl.Close()
	if err := op(cl, ctx, id); err != nil {
		return a.fail(err, id)
	}
	fmt.Fprintf(a.c.stdout, "%s: %s\n", id, done)
	return exitOK
}
