package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/queue/admin/admintest"
	"github.com/outbox-mta/outbox/store"
)

// adminRun runs an admin verb in-process and returns its exit status and
// output.
func adminRun(t *testing.T, verb func(context.Context, *cli, []string) int, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = verb(context.Background(), &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}, args)
	return code, out.String(), errb.String()
}

// adminRunOn is adminRun against q served on a new socket, with fixture
// names in args turned into q's IDs and q's IDs in the output turned back
// into names.
func adminRunOn(t *testing.T, q *admintest.Queue, verb func(context.Context, *cli, []string) int, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	args = slices.Clone(args)
	for i := range args {
		args[i] = q.Expand(args[i])
	}
	code, stdout, stderr = adminRun(t, verb, append(args, "--socket", admintest.Serve(t, q))...)
	return code, q.Names(stdout), q.Names(stderr)
}

// adminFixture is a spool of two messages, m1 and m2, and a bounce log
// of two rows, b0 and b1; ages are relative to the real clock because the
// verbs read it.
func adminFixture(t *testing.T) *admintest.Queue {
	now := time.Now()
	q := admintest.NewQueue(t)
	q.Add(&store.Message{
		ID: "m1", From: "alice@example.com", Received: now.Add(-90*time.Minute - 30*time.Second),
		Client: "127.0.0.1:4000", User: "alice",
		Recipients: []store.Recipient{
			{Addr: "bob@example.org", State: store.StateDeferred, Attempts: 2, LastReply: "451 4.7.1 greylisted\r\n try later",
				NextAttempt: now.Add(2*time.Hour + 30*time.Second),
				History: []store.Attempt{{Time: now.Add(-time.Hour), Host: "mx.example.org[192.0.2.1]:25",
					TLS: "TLS1.3 TLS_AES_128_GCM_SHA256 verified", Code: 451, Enhanced: "4.7.1", Reply: "greylisted", Result: store.StateDeferred}}},
			{Addr: "carol@example.net", State: store.StateDelivered, Attempts: 1},
		},
	}, "Subject: hello\r\nFrom: alice@example.com\r\n")
	q.Add(&store.Message{
		ID: "m2", From: "", Received: now.Add(-30 * time.Second),
		Recipients: []store.Recipient{{Addr: "dave@example.net", State: store.StateQueued, NextAttempt: now.Add(-time.Second)}},
	}, "Subject: bounce\r\n")
	q.AddBounce(store.Bounce{Time: now.Add(-72 * time.Hour), MsgID: "b0", From: "x@example.com", Rcpt: "gone@example.com", Code: 550, Attempts: 1})
	q.AddBounce(store.Bounce{Time: now.Add(-time.Hour), MsgID: "b1", From: "alice@example.com",
		Rcpt: "eve@example.org", Host: "mx.example.org", Code: 550, Enhanced: "5.1.1", Diag: "no such\nuser", Attempts: 1})
	return q
}

func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		args     []string
		wantPos  []string
		wantJSON bool
		wantSock string
	}{
		{[]string{"ID"}, []string{"ID"}, false, ""},
		{[]string{"--json", "ID"}, []string{"ID"}, true, ""},
		{[]string{"ID", "--json"}, []string{"ID"}, true, ""},
		{[]string{"ID", "--socket", "/s", "X", "--json"}, []string{"ID", "X"}, true, "/s"},
		{[]string{"--", "--json"}, []string{"--json"}, false, ""},
		{[]string{"ID", "--", "-x", "--json"}, []string{"ID", "-x", "--json"}, false, ""},
		{nil, nil, false, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			a := newAdminCmd(&cli{stderr: &bytes.Buffer{}}, "queue show")
			asJSON := a.fs.Bool("json", false, "")
			pos, _, ok := a.parse(tt.args)
			if !ok {
				t.Fatal("parse failed")
			}
			if !reflect.DeepEqual(pos, tt.wantPos) || *asJSON != tt.wantJSON || a.socket != tt.wantSock {
				t.Errorf("got %q json=%v socket=%q, want %q json=%v socket=%q", pos, *asJSON, a.socket, tt.wantPos, tt.wantJSON, tt.wantSock)
			}
		})
	}
}

func TestSocketPath(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "outbox.toml")
	if err := os.WriteFile(cfg, []byte("[admin]\nsocket = \"/run/outbox/admin.sock\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, config, socket, want string
		wantErr                    bool
	}{
		{"default", "", "", "./outbox-spool/admin.sock", false},
		{"flag wins", cfg, "/tmp/x.sock", "/tmp/x.sock", false},
		{"from config", cfg, "", "/run/outbox/admin.sock", false},
		{"missing config", filepath.Join(dir, "nope.toml"), "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := socketPath(tt.config, tt.socket)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("socketPath(%q, %q) = %q, %v; want %q, error %v", tt.config, tt.socket, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{59 * time.Second, "59s"},
		{time.Minute, "1m"},
		{59*time.Minute + 59*time.Second, "59m"},
		{90 * time.Minute, "1h30m"},
		{23*time.Hour + 5*time.Minute, "23h05m"},
		{50 * time.Hour, "2d2h"},
		{-90 * time.Second, "1m"},
	}
	for _, tt := range tests {
		if got := formatDuration(tt.d); got != tt.want {
			t.Errorf("formatDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestOneLine(t *testing.T) {
	if got := oneLine("550 5.1.1\r\n  no such\tuser ", 100); got != "550 5.1.1 no such user" {
		t.Errorf("oneLine = %q", got)
	}
	if got := oneLine("ééééé", 4); got != "é..." {
		t.Errorf("oneLine truncation = %q", got)
	}
}

// TestAdminVerbsNotRunning: every admin verb reports a stopped daemon
// plainly and exits 1.
func TestAdminVerbsNotRunning(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "admin.sock")
	verbs := map[string]struct {
		run  func(context.Context, *cli, []string) int
		args []string
	}{
		"queue list":    {runQueueList, nil},
		"queue show":    {runQueueShow, []string{"m1"}},
		"queue flush":   {runQueueFlush, []string{"--all"}},
		"queue hold":    {runQueueHold, []string{"m1"}},
		"queue release": {runQueueRelease, []string{"m1"}},
		"queue delete":  {runQueueDelete, []string{"m1"}},
		"bounces":       {runBounces, nil},
	}
	for name, v := range verbs {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := adminRun(t, v.run, append(v.args, "--socket", sock)...)
			want := "outbox daemon is not running (no admin socket at " + sock + ")\n"
			if code != exitError || out != "" || errOut != want {
				t.Errorf("exit %d, stdout %q, stderr %q; want 1, \"\", %q", code, out, errOut, want)
			}
		})
	}
}
