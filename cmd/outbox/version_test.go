package main

import (
	"log/slog"
	"maps"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/outbox-mta/outbox/config"
	"github.com/outbox-mta/outbox/mxresolve"
	"github.com/outbox-mta/outbox/queue"
	"github.com/outbox-mta/outbox/queue/metrics"
	"github.com/outbox-mta/outbox/store"
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

// TestMetricsCarryBuildInfo: the daemon's metrics, as serve builds them,
// export outbox_build_info with this binary's labels.
func TestMetricsCarryBuildInfo(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	db, err := store.Open(t.TempDir(), store.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q, err := queue.New(db, idleDeliverer{}, queue.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Metrics.Address = "127.0.0.1:0"
	m, err := newMetrics(cfg, db, q, &listenerCounters{}, &mxresolve.Resolver{}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	b := buildInfo()
	want := map[string]string{"version": b.Version, "commit": b.Commit, "goversion": b.GoVersion}
	for _, mf := range mfs {
		if mf.GetName() != "outbox_build_info" {
			continue
		}
		got := map[string]string{}
		for _, l := range mf.GetMetric()[0].GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if !maps.Equal(got, want) || mf.GetMetric()[0].GetGauge().GetValue() != 1 {
			t.Errorf("outbox_build_info labels %v value %v; want %v and 1", got, mf.GetMetric()[0].GetGauge().GetValue(), want)
		}
		return
	}
	t.Error("no outbox_build_info metric")
}
