package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// verbFlags is the flag set of one verb. Its usage line comes from the verb
// table (commands), so the synopsis a verb prints for -h or a misuse is the
// one `outbox help` lists, and every verb parses its arguments the same
// way: flags before or after the positional arguments, "--" ending them.
type verbFlags struct {
	c    *cli
	name string // "queue list"
	fs   *flag.FlagSet
}

// newVerbFlags prepares the flag set of verb name, which must be in the
// verb table.
func newVerbFlags(c *cli, name string) *verbFlags {
	v := &verbFlags{c: c, name: name, fs: flag.NewFlagSet("outbox "+name, flag.ContinueOnError)}
	v.fs.SetOutput(c.stderr)
	v.fs.Usage = func() {
		cmd, _ := lookupVerb(name)
		fmt.Fprintf(c.stderr, "usage: outbox %s\n  %s\n", cmd.synopsis(), cmd.summary)
		fmt.Fprintln(c.stderr, "Flags may come before or after the arguments; \"--\" ends the flags.")
		v.fs.PrintDefaults()
	}
	return v
}

// parse parses args, allowing flags after positional arguments ("queue show
// ID --json"), and returns the positional arguments. It returns an exit
// status and false when the verb must stop: exitOK after -h, exitUsage after
// a bad flag (the flag package has printed why).
func (v *verbFlags) parse(args []string) ([]string, int, bool) {
	var pos []string
	for {
		if err := v.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK, false
			}
			return nil, exitUsage, false
		}
		rest := v.fs.Args()
		if len(rest) == 0 {
			return pos, 0, true
		}
		if consumed := args[:len(args)-len(rest)]; len(consumed) > 0 && consumed[len(consumed)-1] == "--" {
			return append(pos, rest...), 0, true
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// parseNoArgs is parse for a verb that takes flags only: a positional
// argument is a usage error.
func (v *verbFlags) parseNoArgs(args []string) (int, bool) {
	pos, code, ok := v.parse(args)
	if !ok {
		return code, false
	}
	if len(pos) > 0 {
		return v.usageError("unexpected argument %q", pos[0]), false
	}
	return 0, true
}

// parseID is parse for a verb on one message: exactly one non-empty
// positional argument, the queue ID.
func (v *verbFlags) parseID(args []string) (string, int, bool) {
	pos, code, ok := v.parse(args)
	if !ok {
		return "", code, false
	}
	if len(pos) != 1 || pos[0] == "" {
		return "", v.usageError("want exactly one message ID, got %d arguments", len(pos)), false
	}
	return pos[0], 0, true
}

// usageError reports a misuse of the verb, prints its usage and returns
// exitUsage.
func (v *verbFlags) usageError(format string, a ...any) int {
	fmt.Fprintf(v.c.stderr, "outbox %s: %s\n", v.name, fmt.Sprintf(format, a...))
	v.fs.Usage()
	return exitUsage
}

// adminFlags is the synopsis of the flags every verb that calls the running
// daemon shares (adminCmd).
const adminFlags = "[--config FILE | --socket PATH]"

// synopsis is the verb's usage line after "outbox ": its name and its
// arguments.
func (cmd command) synopsis() string {
	s := cmd.name
	if cmd.args != "" {
		s += " " + cmd.args
	}
	if cmd.admin {
		s += " " + adminFlags
	}
	return s
}

// lookupVerb finds the verb named name (or an alias of it) in the table.
func lookupVerb(name string) (command, bool) {
	for _, cmd := range commands() {
		if cmd.name == name {
			return cmd, true
		}
	}
	return command{}, false
}

// writeUsage lists the verbs whose name starts with the words of group
// ("" for all), one synopsis and summary each.
func writeUsage(w io.Writer, group string) {
	if group == "" {
		fmt.Fprintln(w, "usage: outbox COMMAND [ARGS]")
	} else {
		fmt.Fprintf(w, "usage: outbox %s COMMAND [ARGS]\n", group)
	}
	fmt.Fprintln(w)
	for _, cmd := range commands() {
		if group != "" && !strings.HasPrefix(cmd.name, group+" ") {
			continue
		}
		fmt.Fprintf(w, "  outbox %s\n      %s\n", cmd.synopsis(), cmd.summary)
		for _, a := range cmd.aliases {
			fmt.Fprintf(w, "      (also: outbox %s)\n", a)
		}
	}
	if group == "" {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Flags may come before or after a verb's arguments; -h after a verb lists its flags.")
	}
}
