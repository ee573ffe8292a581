package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/outbox-mta/outbox/config"
)

// runConfigCheck is `outbox config check [--config FILE] [--as USER]`: it
// loads and checks the configuration as serve would, without starting
// anything (as `nginx -t` or `postfix check`), and prints the effective
// values or every problem found. Warnings (config.Warnings) go to stderr
// and do not fail the check. With --as, every file the configuration names,
// the file itself and the spool directory must be usable by USER, the
// account the service runs as.
func runConfigCheck(ctx context.Context, c *cli, args []string) int {
	v := newVerbFlags(c, "config check")
	path := v.fs.String("config", "", "configuration `FILE`; default: the embedded defaults")
	as := v.fs.String("as", "", "also check that `USER` (the service's account) can read every file named")
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
	if err == nil && *as != "" {
		err = checkAccess(cfg, *path, *as)
	}
	if err != nil {
		printConfigError(c.stderr, name, err)
		return exitError
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(c.stderr, "WARN %s\n", w.Error())
	}
	fmt.Fprintf(c.stdout, "config OK: %s\n", name)
	if *as != "" {
		fmt.Fprintf(c.stdout, "every file named is usable by %s\n", *as)
	}
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

// checkAccess is --as: the configuration file, every file it names
// (readable) and the spool directory when it exists (writable) must be
// usable by user. A *config.ValidationError lists every file that is not.
func checkAccess(cfg *config.Config, path, user string) error {
	a, err := lookupAccount(user)
	if err != nil {
		return fmt.Errorf("--as %s: %w", user, err)
	}
	var verr config.ValidationError
	add := func(key string, err error) {
		verr.Problems = append(verr.Problems, config.Problem{Key: key, Msg: err.Error()})
	}
	files := cfg.Files()
	if path != "" {
		files = append([]config.NamedFile{{Key: "(config file)", Path: path}}, files...)
	}
	for _, f := range files {
		if err := a.canAccess(f.Path, permRead); err != nil {
			add(f.Key, err)
		}
	}
	if _, err := os.Stat(cfg.Spool.Dir); err == nil {
		if err := a.canAccess(cfg.Spool.Dir, permRead|permWrite|permExec); err != nil {
			add("spool.dir", err)
		}
	}
	if len(verr.Problems) == 0 {
		return nil
	}
	verr.File = path
	return &verr
}
