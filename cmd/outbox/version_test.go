package main

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/outbox-mta/outbox/queue/metrics"
)

// TestBuildInfoFrom: the version, commit and dirty flag come from what the
// toolchain recorded; a build without VCS settings has no commit.
func TestBuildInfoFrom(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	for _, tc := range []struct {
		name string
		bi   debug.BuildInfo
		want metrics.BuildInfo
	}{
		{"tagged", debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.0"}, Settings: vcs("abc123", "false")},
			metrics.BuildInfo{Version: "v1.2.0", Commit: "abc123", GoVersion: "go1.26.0"}},
		{"dirty checkout", debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Settings: vcs("abc123", "true")},
			metrics.BuildInfo{Version: "(devel)", Commit: "abc123-dirty", GoVersion: "go1.26.0"}},
		{"no vcs", debug.BuildInfo{GoVersion: "go1.26.0", Settings: []debug.BuildSetting{{Key: "-trimpath", Value: "true"}}},
			metrics.BuildInfo{Version: "(devel)", GoVersion: "go1.26.0"}},
	} {
		if got := buildInfoFrom(&tc.bi); got != tc.want {
			t.Errorf("%s: buildInfoFrom = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// TestVersionVerb: `outbox version` and `outbox --version` print the
// version, the commit (or why it is unknown) and the Go version, exit 0.
func TestVersionVerb(t *testing.T) {
	b := buildInfo()
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, out, errOut := runCLI(args...)
		if code != exitOK || errOut != "" {
			t.Errorf("outbox %s: exit %d, stderr %q", args, code, errOut)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != 3 || lines[0] != "outbox "+b.Version || !strings.HasPrefix(lines[1], "commit ") || lines[2] != b.GoVersion {
			t.Errorf("outbox %s printed %q; want version, commit and Go version lines", args, out)
		}
	}
	if code, _, _ := runCLI("version", "extra"); code != exitUsage {
		t.Errorf("outbox version extra: exit %d, want %d", code, exitUsage)
	}
}
