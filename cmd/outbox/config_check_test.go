package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runVerbIO runs verb in-process with stdin and returns its exit status
// and output.
func runVerbIO(t *testing.T, verb func(context.Context, *cli, []string) int, stdin io.Reader, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = verb(context.Background(), &cli{stdin: stdin, stdout: &out, stderr: &errb}, args)
	return code, out.String(), errb.String()
}

// verbCase is a run of a verb and what it must print and return.
type verbCase struct {
	name       string
	args       []string
	code       int
	stdout     []string // substrings stdout must contain
	stderr     []string // substrings stderr must contain
	nostdout   bool
	stderrNone bool
}

func (tt verbCase) run(t *testing.T, verb func(context.Context, *cli, []string) int) {
	t.Helper()
	stdout, stderr := checkVerbRun(t, verb, tt.args, tt.code, tt.stdout, tt.stderr)
	if tt.nostdout && stdout != "" {
		t.Errorf("stdout = %q, want nothing", stdout)
	}
	if tt.stderrNone && stderr != "" {
		t.Errorf("stderr = %q, want nothing", stderr)
	}
}

// checkVerbRun runs verb with args and fails t unless it exits with code
// and its stdout and stderr contain each of wantOut and wantErr. It returns
// what the verb printed.
func checkVerbRun(t *testing.T, verb func(context.Context, *cli, []string) int, args []string, code int, wantOut, wantErr []string) (stdout, stderr string) {
	t.Helper()
	got, stdout, stderr := runVerbIO(t, verb, strings.NewReader(""), args...)
	if got != code {
		t.Errorf("exit status %d, want %d\nstdout: %s\nstderr: %s", got, code, stdout, stderr)
	}
	for _, want := range wantOut {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	for _, want := range wantErr {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	return stdout, stderr
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	write := func(name, doc string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(strings.ReplaceAll(doc, "{{dir}}", dir)), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := write("good.toml", `
hostname = "mx.example.com"
[spool]
dir = "{{dir}}/spool"
[[listen.submission]]
address = "127.0.0.1:2525"
`)
	broken := write("broken.toml", `
bogus = true
[limits]
max_recipients = 0
[delivery]
first_retry = "soon"
`)
	fileInWay := write("file", "")
	uncreatable := write("uncreatable.toml", `
[spool]
dir = "{{dir}}/file/spool"
`)
	syntax := write("syntax.toml", "[limits\n")

	tests := []verbCase{
		{
			name: "valid file", args: []string{"--config", good}, code: exitOK,
			stdout:     []string{"config OK: " + good + "\n", "hostname", "mx.example.com", "spool.dir", dir + "/spool", "listen.submission[0]", "127.0.0.1:2525 starttls"},
			stderrNone: true,
		},
		{
			name: "embedded defaults", args: nil, code: exitOK,
			// stderr may warn: the defaults' hostname is this machine's.
			stdout: []string{"config OK: (embedded defaults)\n", "127.0.0.1:587 starttls", "./outbox-spool"},
		},
		{
			name: "every problem listed", args: []string{"--config", broken}, code: exitError, nostdout: true,
			stderr: []string{
				"config " + broken + ": 3 problems:\n",
				"  bogus: unknown key\n",
				"  limits.max_recipients: must be at least 1 (got 0)\n",
				`  delivery.first_retry: invalid duration "soon"`,
			},
		},
		{
			name: "spool not creatable", args: []string{"--config", uncreatable}, code: exitError, nostdout: true,
			stderr: []string{"config " + uncreatable + ": 1 problem:\n", "  spool.dir: cannot create " + dir + "/file/spool: " + fileInWay + " is not a directory\n"},
		},
		{
			name: "syntax error", args: []string{"--config", syntax}, code: exitError, nostdout: true,
			stderr: []string{"config " + syntax + ": toml: line 2"},
		},
		{
			name: "missing file", args: []string{"--config", filepath.Join(dir, "nope.toml")}, code: exitError, nostdout: true,
			stderr: []string{"no such file or directory"},
		},
		{
			name: "unknown flag", args: []string{"--bogus"}, code: exitUsage, nostdout: true,
			stderr: []string{"flag provided but not defined: -bogus", "-config FILE"},
		},
		{
			name: "extra argument", args: []string{good}, code: exitUsage, nostdout: true,
			stderr: []string{`unexpected argument "` + good + `"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, runConfigCheck) })
	}
	if _, err := os.Stat(filepath.Join(dir, "spool")); !os.IsNotExist(err) {
		t.Errorf("config check created the spool directory (stat: %v); it must not change anything", err)
	}
}

// TestConfigCheckExample checks the shipped sample with the verb users run.
func TestConfigCheckExample(t *testing.T) {
	path := filepath.Join("..", "..", "outbox.example.toml")
	code, stdout, stderr := runVerbIO(t, runConfigCheck, strings.NewReader(""), "--config", path)
	if code != exitOK || !strings.HasPrefix(stdout, "config OK: "+path+"\n") {
		t.Fatalf("config check of the sample: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
}
