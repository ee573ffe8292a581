package integration

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/config"
)

// The unit ships with ExecStart=/usr/local/bin/outbox; verify wants the
// binary to exist, so the test verifies a copy pointing at the test build.
const unitBinary = "/usr/local/bin/outbox"

// TestSystemdUnitVerify checks systemd/ with systemd's own tools: the unit
// verifies clean, its exposure stays at 2.0 or below, and the sysusers
// file creates the user.
func TestSystemdUnitVerify(t *testing.T) {
	analyze := needTool(t, "systemd-analyze")
	dir := t.TempDir()
	unit, err := os.ReadFile("../systemd/outbox.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart="+unitBinary+" ") {
		t.Fatalf("the unit's ExecStart no longer runs %s", unitBinary)
	}
	path := filepath.Join(dir, "outbox.service")
	writeFile(t, path, strings.ReplaceAll(string(unit), unitBinary, binary))

	out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// --threshold is in tenths: fail above 2.0.
	out, err = exec.Command(analyze, "security", "--offline=yes", "--threshold=20", path).CombinedOutput()
	exposure := regexp.MustCompile(`Overall exposure level for outbox.service: ([0-9.]+)`).FindSubmatch(out)
	if err != nil || exposure == nil {
		t.Errorf("systemd-analyze security: %v\n%s", err, out)
	} else {
		summary(t, "exposure %s (systemd-analyze security --offline=yes)", exposure[1])
	}

	sysusers := needTool(t, "systemd-sysusers")
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	sysusersFile, _ := filepath.Abs("../systemd/outbox.sysusers")
	if out, err := exec.Command(sysusers, "--root="+root, sysusersFile).CombinedOutput(); err != nil {
		t.Fatalf("systemd-sysusers: %v\n%s", err, out)
	}
	passwd, err := os.ReadFile(filepath.Join(root, "etc", "passwd"))
	if err != nil || !regexp.MustCompile(`(?m)^outbox:x:\d+:\d+:`).Match(passwd) {
		t.Errorf("no outbox user created: %v\n%s", err, passwd)
	}
}

// TestServiceConfig checks that the unit and the configuration it ships
// with agree: spool in the StateDirectory, admin socket in the
// RuntimeDirectory, the shutdown bound below TimeoutStopSec.
func TestServiceConfig(t *testing.T) {
	unit := unitSettings(t, "../systemd/outbox.service")
	cfg, err := config.Load("../systemd/outbox.toml")
	if err != nil {
		t.Fatal(err)
	}
	if want := "serve --config /etc/outbox/outbox.toml"; !strings.HasSuffix(unit["ExecStart"], want) {
		t.Errorf("ExecStart = %q, want it to end with %q", unit["ExecStart"], want)
	}
	if want := "/var/lib/" + unit["StateDirectory"]; cfg.Spool.Dir != want {
		t.Errorf("spool.dir = %q, want %q (StateDirectory)", cfg.Spool.Dir, want)
	}
	if want := "/run/" + unit["RuntimeDirectory"]; filepath.Dir(cfg.Admin.Socket) != want {
		t.Errorf("admin.socket = %q, want it in %q (RuntimeDirectory)", cfg.Admin.Socket, want)
	}
	stop, err := time.ParseDuration(unit["TimeoutStopSec"])
	if err != nil {
		t.Fatalf("TimeoutStopSec: %v", err)
	}
	// The default bound too: a file that drops the key must still fit.
	for _, bound := range []time.Duration{cfg.Limits.ShutdownTimeout.Duration, config.Default().Limits.ShutdownTimeout.Duration} {
		// Room for closing the store and the deliverer after the bound.
		if stop < bound+10*time.Second {
			t.Errorf("TimeoutStopSec %v leaves no margin over limits.shutdown_timeout %v", stop, bound)
		}
	}
	if unit["ExecReload"] != "/bin/kill -HUP $MAINPID" || unit["Type"] != "notify" {
		t.Errorf("Type = %q, ExecReload = %q", unit["Type"], unit["ExecReload"])
	}
}

// unitSettings reads the Key=Value lines of a unit file (last one wins).
func unitSettings(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			m[k] = v
		}
	}
	return m
}

// notifySocket is a fake systemd notification socket: it collects the
// daemon's sd_notify messages.
type notifySocket struct {
	path string
	msgs chan string
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	// t.TempDir can exceed the 108 bytes of a socket path.
	dir, err := os.MkdirTemp("", "sd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	n := &notifySocket{path: filepath.Join(dir, "notify"), msgs: make(chan string, 100)}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := c.Read(buf)
			if err != nil {
				close(n.msgs)
				return
			}
			n.msgs <- string(buf[:k])
		}
	}()
	return n
}

// next returns the next message, failing the test after timeout.
func (n *notifySocket) next(t *testing.T, timeout time.Duration) string {
	t.Helper()
	select {
	case m, ok := <-n.msgs:
		if !ok {
			t.Fatal("notify socket closed")
		}
		return m
	case <-time.After(timeout):
		t.Fatalf("no sd_notify message within %v", timeout)
		return ""
	}
}

// expect skips watchdog pings and returns when want arrives; any other
// message first fails the test.
func (n *notifySocket) expect(t *testing.T, want string, timeout time.Duration) {
	t.Helper()
	for {
		m := n.next(t, timeout)
		if m == "WATCHDOG=1" && want != m {
			continue
		}
		if !slices.Contains(strings.Split(m, "\n"), want) {
			t.Fatalf("sd_notify: got %q, want %q", m, want)
		}
		return
	}
}

// TestSystemdNotify runs the daemon under a fake NOTIFY_SOCKET: READY=1
// comes only once the SMTP listener and the admin socket accept, the
// watchdog is pinged, a reload is framed by RELOADING=1 and READY=1, and
// SIGTERM says STOPPING=1 before a clean exit.
func TestSystemdNotify(t *testing.T) {
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	sock := newNotifySocket(t)
	// The daemon is started by hand: startDaemon's own wait for the
	// listener would make "accepts at READY" trivially true.
	cfg := fmt.Sprintf("hostname = \"outbox.test\"\n[spool]\ndir = %q\n[[listen.submission]]\naddress = %q\n[delivery]\npaused = true\n",
		filepath.Join(dir, "spool"), addr)
	path := filepath.Join(dir, "outbox.toml")
	writeFile(t, path, ownAPIPort(cfg))
	d := &daemon{t: t, dir: dir, config: path, smtp: addr, log: new(syncBuffer)}
	d.cmd = exec.Command(binary, "serve", "--config", path)
	d.cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock.path, "WATCHDOG_USEC=300000")
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.exited = make(chan struct{})
	go func() { d.cmd.Wait(); close(d.exited) }()
	t.Cleanup(d.stop)

	if m := sock.next(t, 30*time.Second); !strings.HasPrefix(m, "READY=1") {
		t.Fatalf("first sd_notify message %q, want READY=1\n%s", m, d.log)
	}
	// Nothing is retried here: at READY the listeners must already accept.
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("READY=1 sent but the SMTP listener does not accept: %v", err)
	}
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.HasPrefix(line, "220 ") {
		t.Errorf("greeting after READY: %q, %v", line, err)
	}
	c.Close()
	a, err := net.Dial("unix", filepath.Join(dir, "spool", "admin.sock"))
	if err != nil {
		t.Fatalf("READY=1 sent but the admin socket does not accept: %v", err)
	}
	a.Close()

	// WATCHDOG_USEC=300000: a ping every 150ms while the spool answers.
	if m := sock.next(t, 5*time.Second); m != "WATCHDOG=1" {
		t.Errorf("sd_notify after READY: %q, want WATCHDOG=1", m)
	}

	d.cmd.Process.Signal(syscall.SIGHUP)
	sock.expect(t, "RELOADING=1", 10*time.Second)
	sock.expect(t, "READY=1", 10*time.Second)

	d.cmd.Process.Signal(syscall.SIGTERM)
	sock.expect(t, "STOPPING=1", 10*time.Second)
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("outbox did not exit after SIGTERM\n%s", d.log)
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit status %d after SIGTERM\n%s", code, d.log)
	}
	// Nothing after STOPPING: the watchdog stopped before it was sent.
	if rest := drain(sock.msgs); len(rest) > 0 {
		t.Errorf("sd_notify after STOPPING: %q", rest)
	}
}

// drain returns what is buffered in c now, without waiting.
func drain(c <-chan string) []string {
	var out []string
	for {
		select {
		case m, ok := <-c:
			if !ok {
				return out
			}
			out = append(out, m)
		default:
			return out
		}
	}
}
