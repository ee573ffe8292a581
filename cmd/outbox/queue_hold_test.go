package main

import (
	"context"
	"strings"
	"testing"

	"github.com/outbox-mta/outbox/queue/admin/admintest"
	"github.com/outbox-mta/outbox/store"
)

// testOnMessageVerb checks a verb that takes one message ID: success,
// unknown ID, and usage errors.
func testOnMessageVerb(t *testing.T, verb func(ctx context.Context, c *cli, args []string) int, op, done string, check func(t *testing.T, q *admintest.Queue)) {
	t.Helper()
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{"ok", []string{"m1"}, exitOK, "m1: " + done + "\n", ""},
		{"flag after id", []string{"m1", "--config", "/nonexistent.toml"}, exitOK, "m1: " + done + "\n", ""}, // --socket wins
		{"unknown", []string{"nope"}, exitError, "", "no such message: nope\n"},
		{"no id", nil, exitUsage, "", "want exactly one message ID, got 0"},
		{"two ids", []string{"m1", "m2"}, exitUsage, "", "want exactly one message ID, got 2"},
		{"bad flag", []string{"--force", "m1"}, exitUsage, "", "flag provided but not defined: -force"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := adminFixture()
			sock := admintest.Serve(t, q)
			code, out, errOut := adminRun(t, verb, append(tt.args, "--socket", sock)...)
			if code != tt.wantCode || out != tt.wantOut || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, out, errOut, tt.wantCode, tt.wantOut, tt.wantErr)
			}
			if tt.wantCode == exitUsage && len(q.Calls()) != 0 {
				t.Errorf("a usage error reached the daemon: %q", q.Calls())
			}
			if tt.wantCode == exitOK {
				if calls := q.Calls(); len(calls) != 1 || calls[0] != op+" m1" {
					t.Errorf("queue calls %q, want [%q]", calls, op+" m1")
				}
				check(t, q)
			}
		})
	}
}

func TestQueueHold(t *testing.T) {
	testOnMessageVerb(t, runQueueHold, "hold", "held", func(t *testing.T, q *admintest.Queue) {
		if st := q.Message("m1").Recipients[0].State; st != store.StateHeld {
			t.Errorf("recipient state %v, want held", st)
		}
	})
}
