package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/outbox-mta/outbox/config"
	"golang.org/x/crypto/bcrypt"
)

func TestPasswd(t *testing.T) {
	tests := []struct {
		name     string
		stdin    string
		args     []string
		code     int
		password string // the password the printed hash must match
		cost     int
		stderr   string // substring stderr must contain
	}{
		{name: "line", stdin: "s3cret\n", args: []string{"--cost", "4"}, code: exitOK, password: "s3cret", cost: 4},
		{name: "CRLF", stdin: "s3cret\r\n", args: []string{"--cost", "4"}, code: exitOK, password: "s3cret", cost: 4},
		{name: "no final newline", stdin: "pass word", args: []string{"--cost", "4"}, code: exitOK, password: "pass word", cost: 4},
		{name: "only the first line", stdin: "first\nsecond\n", args: []string{"--cost", "4"}, code: exitOK, password: "first", cost: 4},
		{name: "empty input", stdin: "", args: []string{"--cost", "4"}, code: exitError, stderr: "outbox passwd: no password on standard input"},
		{name: "empty line", stdin: "\n", args: []string{"--cost", "4"}, code: exitError, stderr: "outbox passwd: empty password"},
		{name: "too long for bcrypt", stdin: strings.Repeat("x", 73) + "\n", args: []string{"--cost", "4"}, code: exitError, stderr: "outbox passwd: bcrypt: password length exceeds 72 bytes"},
		{name: "password as argument", stdin: "x\n", args: []string{"s3cret"}, code: exitUsage, stderr: "read from standard input, not from arguments"},
		{name: "cost out of range", stdin: "x\n", args: []string{"--cost", "3"}, code: exitUsage, stderr: "--cost must be from 4 to 31"},
		{name: "unknown flag", stdin: "x\n", args: []string{"-x"}, code: exitUsage, stderr: "flag provided but not defined: -x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runVerbIO(t, runPasswd, strings.NewReader(tt.stdin), tt.args...)
			if code != tt.code {
				t.Fatalf("exit status %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr %q lacks %q", stderr, tt.stderr)
			}
			if tt.code != exitOK {
				if stdout != "" {
					t.Errorf("stdout = %q, want nothing on failure", stdout)
				}
				return
			}
			hash, ok := strings.CutSuffix(stdout, "\n")
			if !ok || strings.Contains(hash, "\n") {
				t.Fatalf("stdout = %q, want one line", stdout)
			}
			if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(tt.password)); err != nil {
				t.Errorf("hash %q does not match %q: %v", hash, tt.password, err)
			}
			if cost, err := bcrypt.Cost([]byte(hash)); err != nil || cost != tt.cost {
				t.Errorf("hash cost = %d, %v; want %d", cost, err, tt.cost)
			}
		})
	}
}

// TestPasswdUserEntry checks that --user prints an entry the config
// package accepts and that verifies the password.
func TestPasswdUserEntry(t *testing.T) {
	code, stdout, stderr := runVerbIO(t, runPasswd, strings.NewReader("s3cret\n"), "--cost", "4", "--user", "app")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	path := filepath.Join(t.TempDir(), "outbox.toml")
	if err := os.WriteFile(path, []byte(stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("config.Load of the printed entry:\n%s\n%v", stdout, err)
	}
	if len(cfg.Users) != 1 || cfg.Users[0].Name != "app" {
		t.Fatalf("users = %+v, want one named app", cfg.Users)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(cfg.Users[0].PasswordHash), []byte("s3cret")); err != nil {
		t.Errorf("the entry's hash does not match the password: %v", err)
	}
}

func TestPasswdReadError(t *testing.T) {
	boom := errors.New("boom")
	code, _, stderr := runVerbIO(t, runPasswd, iotest.ErrReader(boom), "--cost", "4")
	if code != exitError || !strings.Contains(stderr, "reading the password: boom") {
		t.Fatalf("exit %d, stderr %q; want exit 1 naming the read error", code, stderr)
	}
}
