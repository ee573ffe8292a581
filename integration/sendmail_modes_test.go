package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery/smtptest"
)

// smtpOverPipe is a Python client that speaks SMTP to `sendmail -bs`
// through a socket pair given to the child as stdin and stdout, as PHP's
// Symfony Mailer does with its process pipes.
const smtpOverPipe = `
import smtplib, socket, subprocess, sys
mine, theirs = socket.socketpair()
child = subprocess.Popen(sys.argv[1:], stdin=theirs, stdout=theirs)
theirs.close()
s = smtplib.SMTP()
s.sock = mine
code, banner = s.getreply()
assert code == 220, (code, banner)
s.ehlo("app.example")
refused = s.sendmail("app@example.org", ["a@example.net", "b@example.net"], sys.stdin.buffer.read())
assert not refused, refused
s.quit()
mine.close()
sys.exit(child.wait(timeout=30))
`

// TestSendmailBS: an SMTP client on sendmail -bs's stdin and stdout
// submits through the daemon, and the message reaches the MX byte-intact.
func TestSendmailBS(t *testing.T) {
	python := needTool(t, "python3")
	w := newMXWorld(t, "example.net. MX 10 mx.example.net.", "mx.example.net. A 127.0.0.3")
	mx := w.mx(t, "127.0.0.3", smtptest.Options{})
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	d := startDaemon(t, dir, w.config(t, dir, addr, ""), addr)

	body := "From: app@example.org\r\nTo: a@example.net\r\nSubject: via -bs\r\n\r\n.a leading dot\r\nline two\r\n"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-c", smtpOverPipe, binary, "sendmail", "-bs", "-C", d.config)
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("smtplib through sendmail -bs: %v\n%s", err, out)
	}
	d.waitQueueEmpty(60 * time.Second)
	msgs := mx.Messages()
	if len(msgs) != 1 {
		t.Fatalf("MX got %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.From != "app@example.org" || !slices.Equal(slices.Sorted(slices.Values(m.Rcpts)), []string{"a@example.net", "b@example.net"}) {
		t.Errorf("envelope from %q rcpts %v", m.From, m.Rcpts)
	}
	if !bytes.Contains(m.Data, []byte("\r\nSubject: via -bs\r\n")) || !bytes.HasSuffix(m.Data, []byte("\r\n\r\n.a leading dot\r\nline two\r\n")) {
		t.Errorf("message not byte-intact:\n%q", m.Data)
	}

	// mailq (the binary under that name) and sendmail -bp are queue list.
	link := filepath.Join(t.TempDir(), "mailq")
	if err := os.Symlink(binary, link); err != nil {
		t.Fatal(err)
	}
	want := d.cli("queue", "list", "--config", d.config)
	for _, argv := range [][]string{{link, "-C", d.config}, {binary, "sendmail", "-bp", "-C", d.config}} {
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		if err != nil || string(out) != want {
			t.Errorf("%v: %v\n%s\nwant the output of queue list:\n%s", argv, err, out, want)
		}
	}
	// -q is queue flush --all.
	if out, err := exec.Command(binary, "sendmail", "-q", "-C", d.config).CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "flushed 0 messages") {
		t.Errorf("sendmail -q: %v\n%s\nwant the queue flushed", err, out)
	}
}

// TestSendmailBSDaemonDown: with nothing listening, the client on stdin
// gets a 421 reply and sendmail exits 75.
func TestSendmailBSDaemonDown(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "outbox.toml")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	writeFile(t, path, fmt.Sprintf("hostname = \"outbox.test\"\n[spool]\ndir = %q\n[[listen.submission]]\naddress = %q\n", filepath.Join(dir, "spool"), addr))
	cmd := exec.Command(binary, "sendmail", "-bs", "-C", path)
	cmd.Stdin = strings.NewReader("EHLO x\r\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee := (*exec.ExitError)(nil); !errorsAs(err, &ee) || ee.ExitCode() != 75 || !strings.HasPrefix(stdout.String(), "421 ") {
		t.Errorf("sendmail -bs, no daemon: %v, stdout %q, stderr %q; want exit 75 and a 421 reply", err, stdout.String(), stderr.String())
	}
	// A configuration sendmail cannot use: the client gets its 421 too.
	cmd = exec.Command(binary, "sendmail", "-bs", "-C", filepath.Join(dir, "missing.toml"))
	cmd.Stdin = strings.NewReader("EHLO x\r\n")
	stdout.Reset()
	cmd.Stdout = &stdout
	if err := cmd.Run(); !errorsAs(err, new(*exec.ExitError)) || !strings.HasPrefix(stdout.String(), "421 ") {
		t.Errorf("sendmail -bs, missing config: %v, stdout %q; want a 421 reply", err, stdout.String())
	}
}

// TestSendmailUnreadableConfig: a configuration readable by the service
// only (mode 0600, owned by root) does not stop an unprivileged user's
// sendmail: it notes the fallback to the built-in default listener. A
// readable configuration naming files only the service may read (a relay
// password file) is used as it is.
func TestSendmailUnreadableConfig(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI runs as root, to run sendmail as another user")
		}
		t.Skip("needs root, to run sendmail as nobody")
	}
	// A copy of the binary that nobody may run: the build's directory is
	// private to root.
	bin := filepath.Join(mkdirShared(t), "outbox")
	copyFile(t, binary, bin, 0o755)
	conf := filepath.Join(mkdirShared(t), "outbox.toml")
	writeFile(t, conf, "hostname = \"outbox.test\"\n[[listen.submission]]\naddress = \"127.0.0.1:2525\"\n")
	if err := os.Chmod(conf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ := sendmailAsNobody(bin, conf)
	// What follows depends on whether something listens on 587 here; the
	// configuration is not what stops it.
	if !strings.Contains(string(out), "permission denied; using the built-in default listener 127.0.0.1:587") ||
		strings.Contains(string(out), "2525") {
		t.Errorf("sendmail as nobody with an unreadable config:\n%s\nwant a note and the default listener", out)
	}

	srv := smtptest.Start(t, smtptest.Options{})
	pw := filepath.Join(filepath.Dir(conf), "relay.pw")
	writeFile(t, pw, "secret\n")
	if err := os.Chmod(pw, 0o600); err != nil {
		t.Fatal(err)
	}
	writeFile(t, conf, fmt.Sprintf("hostname = \"outbox.test\"\n[[listen.submission]]\naddress = %q\n[relay.smart]\n[[relay.smart.server]]\nhost = \"smtp.example.com\"\nusername = \"u\"\npassword_file = %q\n", srv.Addr, pw))
	if err := os.Chmod(conf, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := sendmailAsNobody(bin, conf); err != nil || len(srv.Messages()) != 1 {
		t.Errorf("sendmail as nobody, config naming a password file it may not read: %v\n%s\nserver got %d messages", err, out, len(srv.Messages()))
	}
}

// sendmailAsNobody runs bin's sendmail with configuration conf as the
// user nobody.
func sendmailAsNobody(bin, conf string) ([]byte, error) {
	cmd := exec.Command(bin, "sendmail", "-C", conf, "a@example.invalid")
	cmd.Dir = filepath.Dir(conf)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	cmd.Env = []string{"USER=nobody", "PATH=/usr/bin:/bin"}
	cmd.Stdin = strings.NewReader("Subject: x\n\nbody\n")
	return cmd.CombinedOutput()
}

// mkdirShared is a temporary directory every user may enter.
func mkdirShared(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "outbox-shared-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func copyFile(t *testing.T, from, to string, perm os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
