package integration

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// submissionConfig is a daemon configuration that requires AUTH over
// STARTTLS from loopback (no network is trusted) and does not deliver, so
// what was accepted stays queued for the test to inspect.
func submissionConfig(t *testing.T, dir string) (cfg, addr string) {
	t.Helper()
	ca := newTestCA(t, dir)
	cert, key := ca.issue(t, "outbox", "outbox.test", "127.0.0.1")
	hash := passwdHash(t, "s3cret-app")
	addr = fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	cfg = fmt.Sprintf(`
hostname = "outbox.test"
trusted_networks = []
[spool]
dir = %q
[[listen.submission]]
address = %q
[tls]
cert_file = %q
key_file = %q
[[users]]
name = "app"
password_hash = %q
[delivery]
paused = true
`, filepath.Join(dir, "spool"), addr, cert, key, hash)
	return cfg, addr
}

// passwdHash runs `outbox passwd` as an operator would.
func passwdHash(t *testing.T, password string) string {
	t.Helper()
	cmd := exec.Command(binary, "passwd")
	cmd.Stdin = strings.NewReader(password + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("outbox passwd: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// recipients returns addr → state of a `queue list --json` entry.
func recipients(msg map[string]any) map[string]string {
	out := map[string]string{}
	for _, r := range msg["recipients"].([]any) {
		r := r.(map[string]any)
		out[r["addr"].(string)] = r["state"].(string)
	}
	return out
}

// findMessage returns the queued message with the given sender.
func findMessage(t *testing.T, msgs []map[string]any, from string) map[string]any {
	t.Helper()
	for _, m := range msgs {
		if m["from"] == from {
			return m
		}
	}
	t.Fatalf("no queued message from %s in %v", from, msgs)
	return nil
}

func TestSubmitSwaksAndSmtplibSurvivesKill9(t *testing.T) {
	swaks := needSwaks(t)
	python := needTool(t, "python3")
	dir := t.TempDir()
	cfg, addr := submissionConfig(t, dir)
	d := startDaemon(t, dir, cfg, addr)
	host, port, _ := strings.Cut(addr, ":")

	// swaks: STARTTLS and AUTH PLAIN, two recipients.
	out, err := exec.Command(swaks, "--server", host, "--port", port, "--tls",
		"--auth", "PLAIN", "--auth-user", "app", "--auth-password", "s3cret-app",
		"--from", "swaks@example.com", "--to", "a@example.net,b@example.org",
		"--header", "Subject: from swaks", "--body", "hello from swaks").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "250 2.0.0 Ok: queued as") {
		t.Fatalf("swaks: %v\n%s", err, out)
	}

	// Without AUTH the same client is refused: no network is trusted.
	out, err = exec.Command(swaks, "--server", host, "--port", port, "--tls",
		"--from", "anon@example.com", "--to", "x@example.net").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "530 5.7.0") {
		t.Fatalf("swaks without AUTH: want 530 5.7.0, got %v\n%s", err, out)
	}

	// Python's smtplib: STARTTLS, AUTH LOGIN, three recipients.
	script := fmt.Sprintf(`
import smtplib, ssl
ctx = ssl.create_default_context(cafile=%q)
s = smtplib.SMTP(%q, %s, timeout=30)
s.ehlo("client.test")
s.starttls(context=ctx)
s.ehlo("client.test")
s.login("app", "s3cret-app")
s.sendmail("py@example.com", ["c@example.net", "d@example.net", "e@example.com"],
  "From: py@example.com\r\nTo: c@example.net\r\nSubject: from smtplib\r\n\r\nhello from python\r\n")
s.quit()
`, filepath.Join(dir, "ca.pem"), host, port)
	if out, err := exec.Command(python, "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("python smtplib: %v\n%s", err, out)
	}

	want := map[string]map[string]string{
		"swaks@example.com": {"a@example.net": "queued", "b@example.org": "queued"},
		"py@example.com":    {"c@example.net": "queued", "d@example.net": "queued", "e@example.com": "queued"},
	}
	check := func(stage string) map[string]string {
		msgs := d.queueJSON()
		if len(msgs) != 2 {
			t.Fatalf("%s: %d messages queued, want 2: %v", stage, len(msgs), msgs)
		}
		ids := map[string]string{}
		for from, rcpts := range want {
			m := findMessage(t, msgs, from)
			if got := recipients(m); !mapsEqual(got, rcpts) {
				t.Errorf("%s: recipients of %s = %v, want %v", stage, from, got, rcpts)
			}
			ids[from] = m["id"].(string)
		}
		return ids
	}
	ids := check("after submission")

	// kill -9 and restart: everything acknowledged is still there.
	d.kill9()
	d.start()
	if got := check("after kill -9 and restart"); !mapsEqual(got, ids) {
		t.Errorf("IDs changed across the restart: %v, want %v", got, ids)
	}

	// The body survived too, with the headers Outbox adds.
	show := d.cli("queue", "show", ids["py@example.com"])
	for _, h := range []string{"Subject: from smtplib", "Received: from client.test", "Message-ID:", "Date:"} {
		if !strings.Contains(show, h) {
			t.Errorf("queue show lacks %q:\n%s", h, show)
		}
	}

	// Hold, release and delete through the CLI.
	id := ids["swaks@example.com"]
	d.cli("queue", "hold", id)
	if got := recipients(findMessage(t, d.queueJSON(), "swaks@example.com")); got["a@example.net"] != "held" || got["b@example.org"] != "held" {
		t.Errorf("after hold: %v, want both held", got)
	}
	if out := d.cli("queue", "list", "--state", "held"); !strings.Contains(out, id) || strings.Contains(out, ids["py@example.com"]) {
		t.Errorf("queue list --state held:\n%s", out)
	}
	d.cli("queue", "release", id)
	if got := recipients(findMessage(t, d.queueJSON(), "swaks@example.com")); got["a@example.net"] != "queued" {
		t.Errorf("after release: %v, want queued", got)
	}
	d.cli("queue", "delete", id)
	msgs := d.queueJSON()
	if len(msgs) != 1 || msgs[0]["from"] != "py@example.com" {
		t.Errorf("after delete: %v, want only the smtplib message", msgs)
	}
	if out, err := d.cliErr("queue", "show", id); err == nil || !strings.Contains(out, "no such message") {
		t.Errorf("queue show of a deleted message: %v\n%s", err, out)
	}
}

func TestCLIWithoutDaemon(t *testing.T) {
	dir := t.TempDir()
	cfg, addr := submissionConfig(t, dir)
	d := &daemon{t: t, dir: dir, config: filepath.Join(dir, "outbox.toml"), smtp: addr}
	writeFile(t, d.config, cfg)
	out, err := d.cliErr("queue", "list")
	var ee *exec.ExitError
	if !errorsAs(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(out, "outbox daemon is not running") {
		t.Errorf("queue list with no daemon: %v\n%s", err, out)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	return !slices.ContainsFunc(keys, func(k string) bool { v, ok := b[k]; return !ok || v != a[k] })
}
