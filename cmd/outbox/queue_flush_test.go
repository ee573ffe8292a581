package main

import (
	"reflect"
	"strings"
	"testing"
)

func TestQueueFlush(t *testing.T) {
	tests := []struct {
		args      []string
		wantCode  int
		wantOut   string
		wantErr   string
		wantCalls []string
	}{
		{[]string{"m1"}, exitOK, "m1: flushed\n", "", []string{"flush m1"}},
		{[]string{"--domain", "example.net"}, exitOK, "flushed 1 messages for example.net\n", "", []string{"flush-domain example.net"}},
		{[]string{"--all"}, exitOK, "flushed 2 messages\n", "", []string{"flush-all"}},
		{[]string{"nope"}, exitError, "", "no such message: nope\n", []string{"flush nope"}},
		{nil, exitUsage, "", "give message IDs, - (IDs on stdin) or --all", nil},
		{[]string{"m1", "--all"}, exitUsage, "", "give message IDs or --all, not both", nil},
		{[]string{"--all", "--domain", "example.net"}, exitOK, "flushed 2 messages\n", "", []string{"bulk flush 2"}},
		{[]string{"m1", "m2"}, exitOK, "flushed 2 messages\n", "", []string{"bulk flush 2"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			q := adminFixture(t)
			code, out, errOut := adminRunOn(t, q, runQueueFlush, tt.args...)
			if code != tt.wantCode || out != tt.wantOut || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, out, errOut, tt.wantCode, tt.wantOut, tt.wantErr)
			}
			if calls := q.Calls(); !reflect.DeepEqual(calls, tt.wantCalls) {
				t.Errorf("queue calls %q, want %q", calls, tt.wantCalls)
			}
		})
	}
}
