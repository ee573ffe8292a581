package integration

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// peerWorld is the loopback Internet of the real-peer scenarios: dnsmasq
// for the .test domains, Postfix "mx1" on 127.0.0.2:25 (primary MX,
// STARTTLS with a certificate from ca) and Postfix "mx2" on 127.0.0.3:25
// (secondary MX, no STARTTLS).
//
//	example.test   MX 10 mx1.example.test, MX 20 mx2.example.test
//	sender.test    MX 10 mx1.example.test   (where bounce notices go)
//	notls.test     MX 10 mx2.example.test   (no STARTTLS there)
//	implicit.test  no MX, A 127.0.0.2       (implicit MX: mx1)
//	nullmx.test    MX 0 .                   (RFC 7505)
//	nope.test      NXDOMAIN
type peerWorld struct {
	dns      *dnsmasq
	mx1, mx2 *postfix
	ca       *testCA
	access   map[string]string // mx1's check_recipient_access table
}

// The refusals mx1 starts with.
const (
	reply550 = "550 5.1.1 User unknown in test table"
	reply450 = "450 4.2.1 Try again later (test table)"
)

func newPeerWorld(t *testing.T) *peerWorld {
	t.Helper()
	needTool(t, "postfix")
	needTool(t, "dnsmasq")
	lockPeers(t)
	w := &peerWorld{ca: newTestCA(t, t.TempDir())}
	w.dns = startDNSMasq(t,
		"--mx-host=example.test,mx1.example.test,10",
		"--mx-host=example.test,mx2.example.test,20",
		"--mx-host=sender.test,mx1.example.test,10",
		"--mx-host=notls.test,mx2.example.test,10",
		"--mx-host=nullmx.test,.,0",
		"--host-record=mx1.example.test,127.0.0.2",
		"--host-record=mx2.example.test,127.0.0.3",
		"--host-record=implicit.test,127.0.0.2",
		"--host-record=v6.example.test,::1",
	)
	w.access = map[string]string{
		"unknown@example.test":   reply550,
		"later-yes@example.test": reply450,
		"later-no@example.test":  reply450,
	}
	cert, key := w.ca.issue(t, "mx1", "mx1.example.test", "implicit.test", "127.0.0.2")
	w.mx1 = startPostfix(t, postfixOptions{
		Name: "mx1", IP: "127.0.0.2", Hostname: "mx1.example.test",
		Domains:  []string{"example.test", "sender.test", "implicit.test"},
		Access:   maps.Clone(w.access),
		CertFile: cert, KeyFile: key,
	})
	w.mx2 = startPostfix(t, postfixOptions{
		Name: "mx2", IP: "127.0.0.3", Hostname: "mx2.example.test",
		Domains: []string{"example.test", "notls.test"},
		Access:  maps.Clone(w.access),
	})
	return w
}

// allow removes addr from mx1's refusals and reloads it.
func (w *peerWorld) allow(t *testing.T, addr string) {
	t.Helper()
	delete(w.access, addr)
	w.mx1.setAccess(t, maps.Clone(w.access))
	w.mx1.waitAccepts(t, addr)
}

// outbox starts a daemon delivering into this world: resolver dnsmasq,
// MX certificates checked against the test CA, retries after 1s then at
// most every 2s unless delivery sets first_retry or max_retry_interval.
// top goes before the first table (top-level keys, [tls],
// [[users]]); delivery inside [delivery] (and tables after it).
func (w *peerWorld) outbox(t *testing.T, top, delivery string) *daemon {
	t.Helper()
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	for _, kv := range []string{`first_retry = "1s"`, `max_retry_interval = "2s"`} {
		if key, _, _ := strings.Cut(kv, " "); !strings.Contains(delivery, key+" =") {
			delivery = kv + "\n" + delivery
		}
	}
	cfg := fmt.Sprintf(`hostname = "outbox.test"
%s
[spool]
dir = %q
[[listen.submission]]
address = %q
[delivery]
resolver = %q
ca_file = %q
%s
`, top, filepath.Join(dir, "spool"), addr, w.dns.Addr, w.ca.File, delivery)
	return startDaemon(t, dir, cfg, addr)
}

// doneMessage returns the message from sender, active or finished.
func (d *daemon) message(from string) map[string]any {
	d.t.Helper()
	return findMessage(d.t, d.queueJSONArgs("--done"), from)
}

// waitStates waits until the message from sender has exactly the wanted
// recipient states.
func (d *daemon) waitStates(from string, want map[string]string, timeout time.Duration) map[string]any {
	d.t.Helper()
	var last map[string]any
	deadline := time.Now().Add(timeout)
	for {
		for _, m := range d.queueJSONArgs("--done") {
			if m["from"] == from {
				last = m
			}
		}
		if last != nil && mapsEqual(recipients(last), want) {
			return last
		}
		if time.Now().After(deadline) {
			var got map[string]string
			if last != nil {
				got = recipients(last)
			}
			d.t.Fatalf("message from %s: states %v, want %v, after %v\n%s", from, got, want, timeout, showJSON(last))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// recipientField returns field of recipient addr of a queue list entry.
func recipientField(msg map[string]any, addr string) map[string]any {
	for _, r := range msg["recipients"].([]any) {
		r := r.(map[string]any)
		if r["addr"] == addr {
			return r
		}
	}
	return nil
}

// attempts is the attempt count of recipient addr.
func attempts(msg map[string]any, addr string) int {
	r := recipientField(msg, addr)
	if r == nil {
		return -1
	}
	n, _ := r["attempts"].(float64)
	return int(n)
}

// history returns the attempt history of recipient addr.
func history(msg map[string]any, addr string) []map[string]any {
	var out []map[string]any
	r := recipientField(msg, addr)
	if r == nil {
		return nil
	}
	hs, _ := r["history"].([]any)
	for _, h := range hs {
		out = append(out, h.(map[string]any))
	}
	return out
}

// bouncesFor returns the bounce log rows of message id.
func (d *daemon) bouncesFor(id string) []map[string]any {
	d.t.Helper()
	var rows []map[string]any
	out := d.cli("bounces", "--json")
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		d.t.Fatalf("bounces --json: %v\n%s", err, out)
	}
	var mine []map[string]any
	for _, r := range rows {
		if r["msgid"] == id {
			mine = append(mine, r)
		}
	}
	return mine
}

func showJSON(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// swaksSend submits the message in file through swaks with STARTTLS and
// AUTH PLAIN.
func swaksSend(t *testing.T, addr, from, to, file string) string {
	t.Helper()
	swaks := needSwaks(t)
	host, port, _ := strings.Cut(addr, ":")
	out, err := exec.Command(swaks, "--server", host, "--port", port, "--tls",
		"--auth", "PLAIN", "--auth-user", "app", "--auth-password", "s3cret-app",
		"--ehlo", "client.test", "--from", from, "--to", to, "--data", "@"+file).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "250 2.0.0 Ok: queued as") {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	return string(out)
}

// smtplibSend submits one message with Python's smtplib (plain SMTP from
// a trusted network).
func smtplibSend(t *testing.T, addr, from string, to []string, msg string) {
	t.Helper()
	python := needTool(t, "python3")
	host, port, _ := strings.Cut(addr, ":")
	script := fmt.Sprintf(`
import smtplib, sys
s = smtplib.SMTP(%q, %s, timeout=30)
s.ehlo("client.test")
refused = s.sendmail(%q, %s, sys.stdin.buffer.read())
s.quit()
assert not refused, refused
`, host, port, from, pyList(to))
	cmd := exec.Command(python, "-c", script)
	cmd.Stdin = strings.NewReader(msg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("python smtplib: %v\n%s", err, out)
	}
}

func pyList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// lockPeers serializes the test runs of this machine that use the fixed
// addresses 127.0.0.2:25 and 127.0.0.3:25 (several `go test` processes may
// run the package at once on a developer's machine); the lock is released
// when the test ends, or when its process dies.
func lockPeers(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "outbox-integration-peers.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	waitFor(t, "the lock on the real-peer addresses (another test run holds it)", 5*time.Minute, func() bool {
		return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
	})
}
