package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestBouncesTable(t *testing.T) {
	q := adminFixture(t)
	code, out, errOut := adminRunOn(t, q, runBounces)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want header and 2 rows:\n%s", len(lines), out)
	}
	if f := strings.Fields(lines[0]); strings.Join(f, " ") != "TIME ID SENDER RECIPIENT CODE ATTEMPTS HOST DIAGNOSTIC" {
		t.Errorf("header %q", lines[0])
	}
	// Columns are split on runs of spaces; the time takes three fields.
	row1 := strings.Join(strings.Fields(lines[1])[3:], " ")
	row2 := strings.Join(strings.Fields(lines[2])[3:], " ")
	if row1 != "b0 x@example.com gone@example.com 550 1 - -" ||
		row2 != "b1 alice@example.com eve@example.org 550 5.1.1 1 mx.example.org no such user" {
		t.Errorf("rows:\n%s", out)
	}
}

func TestBouncesSince(t *testing.T) {
	q := adminFixture(t)
	tests := []struct {
		since string
		want  int
	}{
		{"24h", 1},
		{"7d", 2},
		{time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339), 1},
		{"1m", 0},
	}
	for _, tt := range tests {
		t.Run(tt.since, func(t *testing.T) {
			code, out, errOut := adminRunOn(t, q, runBounces, "--since", tt.since, "--json")
			if code != exitOK {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			var got []struct {
				MsgID string `json:"msgid"`
				Rcpt  string `json:"rcpt"`
				Time  string `json:"time"`
			}
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if len(got) != tt.want {
				t.Errorf("got %d bounces, want %d: %s", len(got), tt.want, out)
			}
		})
	}
	if code, out, _ := adminRunOn(t, q, runBounces, "--since", "1m"); code != exitOK || out != "no bounces\n" {
		t.Errorf("empty table: exit %d, %q", code, out)
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{"24h", now.Add(-24 * time.Hour), false},
		{"90m", now.Add(-90 * time.Minute), false},
		{"7d", now.Add(-7 * 24 * time.Hour), false},
		{"2025-03-01T00:00:00Z", time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), false},
		{"2025-03-01T01:00:00+01:00", time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), false},
		{"-1h", time.Time{}, true},
		{"yesterday", time.Time{}, true},
		{"xd", time.Time{}, true},
		{"36500d", now.Add(-36500 * 24 * time.Hour), false},
		{"300000d", time.Time{}, true}, // overflows a Duration (to 86 years)
		{"-2d", time.Time{}, true},
		{"2025-03-01", time.Time{}, true},
	}
	for _, tt := range tests {
		got, err := parseSince(tt.in, now)
		if (err != nil) != tt.wantErr || !got.Equal(tt.want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestBouncesUsage(t *testing.T) {
	for _, args := range [][]string{{"--since", "soon"}, {"--since", "-5m"}, {"extra"}} {
		code, out, errOut := adminRun(t, runBounces, append(args, "--socket", "/nonexistent.sock")...)
		if code != exitUsage || out != "" || !strings.Contains(errOut, "usage: outbox queue bounces") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want usage error", args, code, out, errOut)
		}
	}
}
