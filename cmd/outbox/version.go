package main

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/outbox-mta/outbox/queue/metrics"
)

// buildInfo names this binary from what the Go toolchain recorded in it
// (runtime/debug.ReadBuildInfo): the main module's version ("(devel)" when
// built from a checkout; a tag when installed with go install
// module@version), and, when built inside a git checkout, the commit and
// whether the tree had uncommitted changes. No -ldflags are needed, so
// every way of building says the same. Built without VCS information
// (go build -buildvcs=false, a source tarball), Commit is "".
func buildInfo() metrics.BuildInfo {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return metrics.BuildInfo{Version: "unknown"}
	}
	return buildInfoFrom(bi)
}

// buildInfoFrom is buildInfo's pure part, table-tested.
func buildInfoFrom(bi *debug.BuildInfo) metrics.BuildInfo {
	b := metrics.BuildInfo{Version: bi.Main.Version, GoVersion: bi.GoVersion}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if b.Commit != "" && dirty {
		b.Commit += "-dirty"
	}
	return b
}

// runVersion prints the binary's version, commit and Go version.
func runVersion(_ context.Context, c *cli, args []string) int {
	v := newVerbFlags(c, "version")
	if code, ok := v.parseNoArgs(args); !ok {
		return code
	}
	b := buildInfo()
	commit := b.Commit
	if commit == "" {
		commit = "unknown (built without VCS information)"
	}
	fmt.Fprintf(c.stdout, "outbox %s\ncommit %s\n%s\n", b.Version, commit, b.GoVersion)
	return exitOK
}
