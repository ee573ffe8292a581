package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/outbox-mta/outbox/queue/admin/admintest"
)

// TestQueueBulkSelection: IDs from stdin, filters with --all, a dry run
// that changes nothing, and a filtered delete refused without a terminal
// or --yes — each one request to the daemon.
func TestQueueBulkSelection(t *testing.T) {
	tests := []struct {
		name      string
		verb      func(context.Context, *cli, []string) int
		args      []string
		stdin     string
		wantCode  int
		wantOut   string
		wantErr   string
		wantCalls []string
		wantLeft  []string // messages left after the command
	}{
		{"ids on stdin", runQueueDelete, []string{"-"}, "m1\nm2 nope\n", exitOK, "deleted 2 messages\n", "", []string{"bulk delete 2"}, nil},
		{"empty stdin", runQueueDelete, []string{"-"}, "", exitOK, "no message IDs given\n", "", nil, []string{"m1", "m2"}},
		{"dry run", runQueueDelete, []string{"--all", "--domain", "example.net", "--dry-run"}, "", exitOK, "2 messages match (dry run: nothing deleted)\n", "", []string{"bulk delete 2"}, []string{"m1", "m2"}},
		{"refused without tty", runQueueDelete, []string{"--all", "--domain", "example.net"}, "y\n", exitError, "", "give --yes", nil, []string{"m1", "m2"}},
		{"yes", runQueueDelete, []string{"--all", "--sender", "<>", "--yes"}, "", exitOK, "deleted 1 messages\n", "", []string{"bulk delete 1"}, []string{"m1"}},
		{"older than", runQueueHold, []string{"--all", "--older-than", "1h"}, "", exitOK, "held 1 messages\n", "", []string{"bulk hold 1"}, []string{"m1", "m2"}},
		{"recipient", runQueueRequeue, []string{"--all", "--recipient", "DAVE@example.net"}, "", exitOK, "requeued 1 messages\n", "", []string{"bulk requeue 1"}, []string{"m1", "m2"}},
		{"bad state", runQueueHold, []string{"--all", "--state", "lost"}, "", exitError, "", "unknown state", nil, []string{"m1", "m2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := adminFixture(t)
			sock := admintest.Serve(t, q)
			var out, errb bytes.Buffer
			c := &cli{stdin: strings.NewReader(q.Expand(tt.stdin)), stdout: &out, stderr: &errb}
			code := tt.verb(context.Background(), c, append(tt.args, "--socket", sock))
			if code != tt.wantCode || out.String() != tt.wantOut || !strings.Contains(errb.String(), tt.wantErr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, out.String(), errb.String(), tt.wantCode, tt.wantOut, tt.wantErr)
			}
			if calls := q.Calls(); strings.Join(calls, ",") != strings.Join(tt.wantCalls, ",") {
				t.Errorf("queue calls %q, want %q", calls, tt.wantCalls)
			}
			for _, id := range []string{"m1", "m2"} {
				want := strings.Contains(strings.Join(tt.wantLeft, ","), id)
				if got := q.Message(id) != nil; got != want {
					t.Errorf("%s present %v, want %v", id, got, want)
				}
			}
		})
	}
}
