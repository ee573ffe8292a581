package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = dispatch(context.Background(), &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut}, append([]string{"outbox"}, args...))
	return code, out.String(), errOut.String()
}

// TestHelpListsTheTable: -h, --help and help print every verb's synopsis
// from the table on stdout and exit 0; no verb at all is a usage error.
func TestHelpListsTheTable(t *testing.T) {
	for _, arg := range []string{"help", "-h", "--help"} {
		code, out, errOut := runCLI(arg)
		if code != exitOK || errOut != "" {
			t.Errorf("outbox %s: exit %d, stderr %q; want 0 and nothing on stderr", arg, code, errOut)
		}
		for _, cmd := range commands() {
			if !strings.Contains(out, "outbox "+cmd.synopsis()+"\n") || !strings.Contains(out, cmd.summary) {
				t.Errorf("outbox %s does not list %q", arg, cmd.synopsis())
			}
		}
	}
	if code, out, errOut := runCLI(); code != exitUsage || out != "" || !strings.Contains(errOut, "usage: outbox COMMAND") {
		t.Errorf("outbox: exit %d, stdout %q, stderr %q; want 2 and the usage on stderr", code, out, errOut)
	}
}

// TestGroupListsItsVerbs: the first word of a group alone lists the verbs
// of the group instead of calling it an unknown command.
func TestGroupListsItsVerbs(t *testing.T) {
	code, out, errOut := runCLI("queue")
	if code != exitUsage || out != "" || strings.Contains(errOut, "unknown command") {
		t.Fatalf("outbox queue: exit %d, stdout %q, stderr %q; want 2 and the queue verbs", code, out, errOut)
	}
	for _, cmd := range commands() {
		inGroup := strings.HasPrefix(cmd.name, "queue ")
		if listed := strings.Contains(errOut, "outbox "+cmd.synopsis()+"\n"); listed != inGroup {
			t.Errorf("outbox queue: %q listed = %v, want %v\n%s", cmd.name, listed, inGroup, errOut)
		}
	}
	code, out, errOut = runCLI("queue", "-h")
	if code != exitOK || errOut != "" || !strings.Contains(out, "outbox queue list") || strings.Contains(out, "outbox serve") {
		t.Errorf("outbox queue -h: exit %d, stdout %q, stderr %q; want 0 and the queue verbs on stdout", code, out, errOut)
	}
	code, _, errOut = runCLI("queue", "frobnicate")
	if code != exitUsage || !strings.Contains(errOut, `unknown command "queue frobnicate"`) || !strings.Contains(errOut, "outbox queue list") {
		t.Errorf("outbox queue frobnicate: exit %d, stderr %q; want 2, unknown command and the queue verbs", code, errOut)
	}
	code, _, errOut = runCLI("frobnicate")
	if code != exitUsage || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("outbox frobnicate: exit %d, stderr %q; want 2 and unknown command", code, errOut)
	}
}

// TestVerbUsageFromTable: every verb's -h prints the synopsis of its row in
// the table, so the overview and the verb cannot disagree; flags are
// accepted after a verb's arguments too.
func TestVerbUsageFromTable(t *testing.T) {
	for _, cmd := range commands() {
		if cmd.name == "sendmail" {
			continue // sendmail's own option syntax (-t, -f FROM) and exit codes
		}
		code, out, errOut := runCLI(append(strings.Fields(cmd.name), "-h")...)
		if code != exitOK || out != "" || !strings.Contains(errOut, "usage: outbox "+cmd.synopsis()+"\n") {
			t.Errorf("outbox %s -h: exit %d, stdout %q, stderr %q; want 0 and %q", cmd.name, code, out, errOut, cmd.synopsis())
		}
	}
}

// TestQueueBouncesAlias: "queue bounces" is the verb; "bounces" still
// answers, with the same usage.
func TestQueueBouncesAlias(t *testing.T) {
	for _, args := range [][]string{{"queue", "bounces", "extra"}, {"bounces", "extra"}} {
		code, _, errOut := runCLI(args...)
		if code != exitUsage || !strings.Contains(errOut, `unexpected argument "extra"`) || !strings.Contains(errOut, "usage: outbox queue bounces") {
			t.Errorf("outbox %q: exit %d, stderr %q; want the bounces verb's usage error", args, code, errOut)
		}
	}
}

// TestFlagsAfterArguments: a verb without admin socket accepts its flags
// after a stray argument as well, and reports the argument.
func TestFlagsAfterArguments(t *testing.T) {
	code, _, errOut := runCLI("config", "check", "extra", "--config", "/nonexistent.toml")
	if code != exitUsage || !strings.Contains(errOut, `unexpected argument "extra"`) {
		t.Errorf("exit %d, stderr %q; want 2 and the stray argument named", code, errOut)
	}
}

// TestREADMEListsTheTable: README's CLI reference has a row for every verb
// whose synopsis is the table's (the admin flags are said once, above it).
func TestREADMEListsTheTable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(readme), `\|`, "|")
	for _, cmd := range commands() {
		row := "| `outbox " + strings.TrimSpace(cmd.name+" "+cmd.args) + "` |"
		if !strings.Contains(text, row) {
			t.Errorf("README.md has no row %s", row)
		}
	}
}
