package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the outbox binary built by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "outbox-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "outbox")
	build := exec.Command("go", "build", "-race", "-o", binary, "../cmd/outbox")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building outbox:", err)
		os.Exit(1)
	}
	code := m.Run()
	pg.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// needTool returns the path of an external program, skipping the test when
// it is missing outside CI and failing it under CI.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is required in CI (.ci/run installs it): %v", name, err)
	}
	t.Skipf("%s not installed: %v", name, err)
	return ""
}

// needSwaks returns swaks' path, requiring its TLS support: swaks without
// Net::SSLeay runs but answers every --tls with "TLS not available", which
// would fail a test far from its cause.
func needSwaks(t *testing.T) string {
	t.Helper()
	p := needTool(t, "swaks")
	out, _ := exec.Command(p, "--support").CombinedOutput()
	if !strings.Contains(string(out), "TLS supported") {
		msg := "swaks has no TLS support (install libnet-ssleay-perl and libio-socket-ssl-perl):\n" + string(out)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// freePort returns a TCP port free on ip at the time of the call.
func freePort(t *testing.T, ip string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitFor polls cond until it is true or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// daemon is one running outbox serve process.
type daemon struct {
	t      *testing.T
	dir    string // working directory: config, spool, logs
	config string
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
	log    *syncBuffer
	smtp   string   // submission address host:port
	env    []string // added to the test's environment
}

// startDaemon writes cfg to dir/outbox.toml and starts outbox serve on it,
// waiting until the submission listener accepts connections. env
// ("NAME=value") is added to the daemon's environment.
func startDaemon(t *testing.T, dir, cfg, smtpAddr string, env ...string) *daemon {
	t.Helper()
	path := filepath.Join(dir, "outbox.toml")
	if err := os.WriteFile(path, []byte(ownAPIPort(cfg)), 0o600); err != nil {
		t.Fatal(err)
	}
	d := &daemon{t: t, dir: dir, config: path, smtp: smtpAddr, env: env}
	d.start()
	t.Cleanup(d.stop)
	return d
}

// ownAPIPort gives a configuration without an [api] table an API on a
// port of its own, so that daemons running side by side never contend for
// the embedded default 127.0.0.1:8587.
func ownAPIPort(cfg string) string {
	if strings.Contains(cfg, "[api") {
		return cfg
	}
	return cfg + "\n[api]\naddress = \"127.0.0.1:0\"\n"
}

func (d *daemon) start() {
	d.t.Helper()
	d.log = new(syncBuffer)
	d.cmd = exec.Command(binary, "serve", "--config", d.config)
	d.cmd.Dir = d.dir
	d.cmd.Env = append(os.Environ(), d.env...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	exited := make(chan struct{})
	d.exited = exited
	go func() { d.cmd.Wait(); close(exited) }()
	waitFor(d.t, "the submission listener", 30*time.Second, func() bool {
		select {
		case <-exited:
			d.t.Fatalf("outbox serve exited early: %v\n%s", d.cmd.ProcessState, d.log)
		default:
		}
		c, err := net.DialTimeout("tcp", d.smtp, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// hasExited reports whether the daemon process has ended.
func (d *daemon) hasExited() bool {
	select {
	case <-d.exited:
		return true
	default:
		return false
	}
}

// kill9 kills the daemon with SIGKILL and waits for it to be gone.
func (d *daemon) kill9() {
	d.t.Helper()
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited
}

// stop sends SIGTERM and waits for a clean exit.
func (d *daemon) stop() {
	select {
	case <-d.exited:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		d.t.Errorf("outbox did not stop within 30s of SIGTERM\n%s", d.log)
		d.cmd.Process.Kill()
		<-d.exited
	}
}

// cli runs an outbox CLI verb against this daemon and returns its stdout;
// a non-zero exit fails the test.
func (d *daemon) cli(args ...string) string {
	d.t.Helper()
	out, err := d.cliErr(args...)
	if err != nil {
		d.t.Fatalf("outbox %s: %v\n%s\n--- daemon (exited: %v) log:\n%s", strings.Join(args, " "), err, out, d.hasExited(), d.log)
	}
	return out
}

func (d *daemon) cliErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	full := append(args[:len(args):len(args)], "--config", d.config)
	cmd := exec.CommandContext(ctx, binary, full...)
	cmd.Dir = d.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// queueJSON returns `outbox queue list --json`, decoded.
func (d *daemon) queueJSON() []map[string]any {
	d.t.Helper()
	return d.decodeList(d.cli("queue", "list", "--json"))
}

func (d *daemon) decodeList(out string) []map[string]any {
	d.t.Helper()
	var msgs []map[string]any
	if err := json.Unmarshal([]byte(out), &msgs); err != nil {
		d.t.Fatalf("queue list --json: %v\n%s", err, out)
	}
	return msgs
}

// syncBuffer is a bytes.Buffer safe for the process's writers and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// summary records a scenario's figures in the test log and, when
// $OUTBOX_TEST_SUMMARY names a file, appends them to it as one line: .ci/run
// prints that file after the tests, since go test hides the output of
// passing tests.
func summary(t *testing.T, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf("%s: %s", t.Name(), fmt.Sprintf(format, args...))
	t.Log(line)
	path := os.Getenv("OUTBOX_TEST_SUMMARY")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Errorf("summary file: %v", err)
		return
	}
	defer f.Close()
	if _, err := f.WriteString(line + "\n"); err != nil {
		t.Errorf("summary file: %v", err)
	}
}
