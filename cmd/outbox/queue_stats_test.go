package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/queue/admin"
	"github.com/outbox-mta/outbox/queue/admin/admintest"
)

func TestQueueStatsTable(t *testing.T) {
	q := adminFixture(t)
	code, out, errOut := adminRunOn(t, q, runQueueStats)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	want := []string{
		`^messages: 2 \(2 pending\)$`,
		`^oldest pending: 1h3\dm \(m1, received .+\)$`,
		`^$`,
		`^ *STATE  RECIPIENTS$`,
		`^ *queued  +1$`,
		`^ *deferred  +1$`,
		`^ *delivered  +1$`,
		`^ *bounced  +0$`,
		`^ *held  +0$`,
		`^$`,
		`^ *DOMAIN  QUEUED  DEFERRED  HELD$`,
		`^ *example.net  +1  +0  +0$`,
		`^ *example.org  +0  +1  +0$`,
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i, re := range want {
		if !regexp.MustCompile(re).MatchString(strings.TrimRight(lines[i], " ")) {
			t.Errorf("line %d = %q, want match for %s", i+1, lines[i], re)
		}
	}
}

func TestQueueStatsJSONAndErrors(t *testing.T) {
	q := adminFixture(t)
	code, out, errOut := adminRunOn(t, q, runQueueStats, "--json")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var s struct {
		Messages int            `json:"messages"`
		ByState  map[string]int `json:"by_state"`
		OldestID string         `json:"oldest_id"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if s.Messages != 2 || s.ByState["deferred"] != 1 || s.OldestID != "m1" {
		t.Errorf("JSON stats %+v", s)
	}

	tests := []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"--socket", admintest.Serve(t, q), "extra"}, exitUsage, `unexpected argument "extra"`},
		{[]string{"--socket", t.TempDir() + "/none.sock"}, exitError, "not running"},
	}
	for _, tt := range tests {
		code, _, errOut := adminRun(t, runQueueStats, tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.err) {
			t.Errorf("%v: exit %d stderr %q, want %d and %q", tt.args, code, errOut, tt.code, tt.err)
		}
	}
}

func TestQueueStatsDispatchPaused(t *testing.T) {
	now := time.Now()
	status := admin.DispatchStatus{Paused: true, Since: now.Add(-90 * time.Second),
		Reason: "store: commit failed: no space left on device", CommitFailures: 4, CommitBackoff: 2}
	path := filepath.Join(admintest.SocketDir(t), "admin.sock")
	l, err := admin.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := admin.New(admin.Options{Queue: adminFixture(t), Logger: slog.New(slog.DiscardHandler),
		Dispatch: func() admin.DispatchStatus { return status }})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })

	code, out, errOut := adminRun(t, runQueueStats, "--socket", path)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, re := range []string{
		`(?m)^delivery: PAUSED for 1m\d*s? \(since .+\): the spool refuses commits: store: commit failed: no space left on device$`,
		`(?m)^outcome commit failures: 4 \(2 messages waiting out a back-off\)$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output lacks %s:\n%s", re, out)
		}
	}
	code, out, _ = adminRun(t, runQueueStats, "--json", "--socket", path)
	var s admin.Stats
	if err := json.Unmarshal([]byte(out), &s); code != exitOK || err != nil {
		t.Fatalf("exit %d, %v: %s", code, err, out)
	}
	if s.Dispatch == nil || !s.Dispatch.Paused || s.Dispatch.CommitFailures != 4 || s.Dispatch.Reason != status.Reason {
		t.Errorf("JSON dispatch = %+v", s.Dispatch)
	}
}

// TestQueueStatsCountsQuarantined: queue stats counts quarantined messages
// in its table and its JSON.
func TestQueueStatsCountsQuarantined(t *testing.T) {
	q := quarantineFixture(t)
	code, out, errOut := adminRunOn(t, q, runQueueStats)
	if code != exitOK || !strings.Contains(out, "quarantined: 1 ") {
		t.Errorf("queue stats: exit %d, stderr %q, output:\n%s", code, errOut, out)
	}
	code, out, _ = adminRunOn(t, q, runQueueStats, "--json")
	var s struct {
		Quarantined int `json:"quarantined"`
	}
	if err := json.Unmarshal([]byte(out), &s); code != exitOK || err != nil || s.Quarantined != 1 {
		t.Errorf("queue stats --json: exit %d, %v, quarantined %d", code, err, s.Quarantined)
	}
}

func TestQueueStatsAges(t *testing.T) {
	q := adminFixture(t)
	code, out, errOut := adminRunOn(t, q, runQueueStats, "--ages")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// m1 (90 min old) has bob@example.org deferred; m2 (30 s) dave@example.net queued.
	for _, want := range []string{
		"DOMAIN T 5 10 20 40 80 160 320 640 1280 1280+",
		"TOTAL 2 1 0 0 0 0 1 0 0    0     0",
		"example.net 1 1",
		"example.org 1 0 0 0 0 0 1",
	} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = adminRunOn(t, q, runQueueStats, "--ages", "--json")
	var s struct {
		Ages struct {
			Buckets []string
			Total   struct{ Total int }
		}
	}
	if err := json.Unmarshal([]byte(out), &s); code != exitOK || err != nil || len(s.Ages.Buckets) != 10 || s.Ages.Total.Total != 2 {
		t.Errorf("json: exit %d, %v, %+v\n%s", code, err, s, out)
	}
	if _, out, _ := adminRunOn(t, q, runQueueStats); strings.Contains(out, "1280+") {
		t.Error("the age table without --ages")
	}
}
