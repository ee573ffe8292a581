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
		wantCall string
	}{
		{"ok", []string{"m1"}, exitOK, "m1: " + done + "\n", "", op + " m1"},
		{"flag after id", []string{"m1", "--config", "/nonexistent.toml"}, exitOK, "m1: " + done + "\n", "", op + " m1"}, // --socket wins
		{"unknown", []string{"nope"}, exitError, "", "no such message: nope\n", ""},
		{"no id", nil, exitUsage, "", "give message IDs, - (IDs on stdin) or --all", ""},
		{"ids and all", []string{"m1", "--all"}, exitUsage, "", "give message IDs or --all, not both", ""},
		{"two ids, one unknown", []string{"m1", "nope"}, exitOK, done + " 1 messages\n", "", "bulk " + op + " 1"},
		{"dry run", []string{"m1", "--dry-run"}, exitOK, "1 messages match (dry run: nothing " + done + ")\n", "", "bulk " + op + " 1"},
		{"bad flag", []string{"--force", "m1"}, exitUsage, "", "flag provided but not defined: -force", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := adminFixture(t)
			code, out, errOut := adminRunOn(t, q, verb, tt.args...)
			if code != tt.wantCode || out != tt.wantOut || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, out, errOut, tt.wantCode, tt.wantOut, tt.wantErr)
			}
			if tt.wantCode == exitUsage && len(q.Calls()) != 0 {
				t.Errorf("a usage error reached the daemon: %q", q.Calls())
			}
			if tt.wantCode == exitOK {
				if calls := q.Calls(); len(calls) != 1 || calls[0] != tt.wantCall {
					t.Errorf("queue calls %q, want [%q]", calls, tt.wantCall)
				}
				if tt.name != "dry run" {
					check(t, q)
				}
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
