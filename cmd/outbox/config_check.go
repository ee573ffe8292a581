package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/outbox-mta/outbox/config"
)

// runConfigCheck is `outbox config check [--config FILE]`: it loads and
// checks the configuration as serve would, without starting anything (as
// `nginx -t` or `postfix check`), and prints the effective values or every
// problem found.
func runConfigCheck(ctx context.Context, c *cli, args []string) int {
	v := newVerbFlags(c, "config check")
	path := v.fs.String("config", "", "configuration `FILE`; default: the embedded defaults")
	if code, ok := v.parseNoArgs(args); !ok {
		return code
	}
	name := *path
	if name == "" {
		name = "(embedded defaults)"
	}

	cfg, err := config.Load(*path)
	if err == nil {
		err = cfg.Check(time.Now())
	}
	if err != nil {
		printConfigError(c.stderr, name, err)
		return exitError
	}
	fmt.Fprintf(c.stdout, "config OK: %s\n", name)
	if err := cfg.WriteSummary(c.stdout); err != nil {
		return exitError
	}
	return exitOK
}

// printConfigError writes every problem of err on a line of its own, or
// err itself when it is not a list of problems (unreadable file, TOML
// syntax: config.Load's error already names the file).
func printConfigError(w io.Writer, name string, err error) {
	var verr *config.ValidationError
	if !errors.As(err, &verr) {
		fmt.Fprintln(w, err)
		return
	}
	noun := "problems"
	if len(verr.Problems) == 1 {
		noun = "problem"
	}
	fmt.Fprintf(w, "config %s: %d %s:\n", name, len(verr.Problems), noun)
	for _, p := range verr.Problems {
		fmt.Fprintf(w, "  %s\n", p.Error())
	}
}
