package main

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"testing"
)

// sharedDir is a temporary directory every user may enter (t.TempDir's
// are private to their owner).
func sharedDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "outbox-as-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestConfigCheckAs: --as USER names every file the service user could
// not read, with the key that names it, and passes once it can.
func TestConfigCheckAs(t *testing.T) {
	if u, err := user.Current(); err != nil || u.Username == "nobody" {
		t.Skip("needs to run as a user other than nobody")
	}
	if _, err := user.Lookup("nobody"); err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	dir := sharedDir(t)
	pw := filepath.Join(dir, "relay.pw")
	if err := os.WriteFile(pw, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "outbox.toml")
	doc := fmt.Sprintf("hostname = \"mail.example.com\"\n[spool]\ndir = %q\n[relay.smart]\n[[relay.smart.server]]\nhost = \"smtp.example.com\"\nusername = \"u\"\npassword_file = %q\n", filepath.Join(dir, "spool"), pw)
	if err := os.WriteFile(conf, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	verbCase{args: []string{"--config", conf, "--as", "nobody"}, code: exitError, nostdout: true,
		stderr: []string{"1 problem", "relay.smart.server[0].password_file: user nobody (uid ", "cannot read " + pw + ": mode 0600"}}.run(t, runConfigCheck)

	if err := os.Chmod(pw, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(conf, 0o600); err != nil {
		t.Fatal(err)
	}
	verbCase{args: []string{"--config", conf, "--as", "nobody"}, code: exitError,
		stderr: []string{"2 problems", "(config file): user nobody", "relay.smart.server[0].password_file: user nobody"}}.run(t, runConfigCheck)

	if err := os.Chmod(pw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(conf, 0o644); err != nil {
		t.Fatal(err)
	}
	verbCase{args: []string{"--config", conf, "--as", "nobody"}, code: exitOK, stderrNone: true,
		stdout: []string{"config OK", "every file named is usable by nobody"}}.run(t, runConfigCheck)

	verbCase{args: []string{"--config", conf, "--as", "no-such-user-x"}, code: exitError,
		stderr: []string{"--as no-such-user-x: user: unknown user no-such-user-x"}}.run(t, runConfigCheck)
}

// TestConfigCheckWarnsShortHostname: a hostname that is not a fully
// qualified domain name passes, with a warning naming the key.
func TestConfigCheckWarnsShortHostname(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "outbox.toml")
	doc := fmt.Sprintf("hostname = \"vm\"\n[spool]\ndir = %q\n", filepath.Join(dir, "spool"))
	if err := os.WriteFile(conf, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	verbCase{args: []string{"--config", conf}, code: exitOK,
		stdout: []string{"config OK"},
		stderr: []string{`WARN hostname: "vm" is not a fully qualified domain name`}}.run(t, runConfigCheck)
}
