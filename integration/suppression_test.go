package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery/smtptest"
)

// TestSuppressionListAgainstScriptedReceiver: the real daemon, a receiver
// that knows no gone@ (550 5.1.1 at RCPT) and refuses blocked@ by policy
// (550 5.7.1). After the first message the list holds gone@ with the
// reply, not blocked@; a second message to gone@ is not attempted (the
// receiver sees no RCPT) and bounces as suppressed, with no notice to the
// sender; removing the entry over the API lets the next one through.
func TestSuppressionListAgainstScriptedReceiver(t *testing.T) {
	w := newMXWorld(t, "example.net. MX 10 mx.example.net.", "mx.example.net. A 127.0.0.3")
	var mu sync.Mutex
	rcpts := map[string]int{}
	var goneExists atomic.Bool
	mx := w.mx(t, "127.0.0.3", smtptest.Options{Rcpt: func(to string) error {
		mu.Lock()
		rcpts[to]++
		mu.Unlock()
		switch {
		case to == "gone@example.net" && !goneExists.Load():
			return smtptest.Reply(550, "5.1.1", "no such user")
		case to == "blocked@example.net":
			return smtptest.Reply(550, "5.7.1", "rejected by policy")
		}
		return nil
	}})
	tries := func(addr string) int {
		mu.Lock()
		defer mu.Unlock()
		return rcpts[addr]
	}
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	api := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	d := startDaemon(t, dir, w.config(t, dir, addr, fmt.Sprintf("[api]\naddress = %q\n", api)), addr)
	post := func(to ...string) string {
		t.Helper()
		status, out := postJSON(t, api, `{"from":"shop@example.net","to":["`+strings.Join(to, `","`)+`"],"subject":"s","text":"x"}`)
		if status != 202 {
			t.Fatalf("POST: %d %v", status, out)
		}
		d.waitQueueEmpty(30 * time.Second)
		return out["id"].(string)
	}
	notices := func() int {
		n := 0
		for _, m := range mx.Messages() {
			if m.From == "" {
				n++
			}
		}
		return n
	}

	post("gone@example.net", "blocked@example.net", "ann@example.net")
	waitFor(t, "the bounce notice", 10*time.Second, func() bool { return notices() == 1 })
	checkOnlyGoneSuppressed(t, d)

	second := post("gone@example.net", "blocked@example.net")
	if n := tries("gone@example.net"); n != 1 {
		t.Errorf("the receiver saw RCPT TO gone@ %d times, want 1: the suppressed address was attempted", n)
	}
	if n := tries("blocked@example.net"); n != 2 {
		t.Errorf("blocked@ tried %d times, want 2: a policy refusal must not suppress", n)
	}
	if show := d.cli("queue", "show", second); !strings.Contains(show, "suppression list") {
		t.Errorf("queue show of the second message:\n%s", show)
	}
	if bounces := d.cli("queue", "bounces"); !strings.Contains(bounces, second) {
		t.Errorf("bounce log lacks the suppressed recipient:\n%s", bounces)
	}
	// The policy bounce of blocked@ is notified; the suppressed gone@
	// adds nothing to that notice.
	waitFor(t, "the second notice", 10*time.Second, func() bool { return notices() == 2 })
	for _, m := range mx.Messages() {
		if m.From == "" && strings.Contains(string(m.Data), second) && strings.Contains(string(m.Data), "Final-Recipient: rfc822; gone@") {
			t.Errorf("the notice reports the suppressed recipient:\n%s", m.Data)
		}
	}

	deleteSuppression(t, api, "gone@example.net")
	goneExists.Store(true)
	third := post("gone@example.net")
	if n := tries("gone@example.net"); n != 2 {
		t.Errorf("after removal gone@ was tried %d times in all, want 2", n)
	}
	if !deliveredTo(mx, third, "gone@example.net") {
		t.Error("the message after removal was not delivered")
	}
}

// checkOnlyGoneSuppressed: after a 550 5.1.1 for gone@ and a 550 5.7.1
// for blocked@, the suppression list holds gone@ alone, with the reply.
func checkOnlyGoneSuppressed(t *testing.T, d *daemon) {
	t.Helper()
	var list []map[string]any
	if err := json.Unmarshal([]byte(d.cli("suppressions", "list", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0]["address"] != "gone@example.net" || list[0]["reason"] != "bounce" ||
		!strings.Contains(fmt.Sprint(list[0]["reply"]), "550 5.1.1") {
		t.Fatalf("suppression list after a 5.1.1 and a 5.7.1: %v", list)
	}
}

// deleteSuppression removes addr from the suppression list over the API.
func deleteSuppression(t *testing.T, api, addr string) {
	t.Helper()
	req, _ := http.NewRequest("DELETE", "http://"+api+"/v1/suppressions/"+addr, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
}

// deliveredTo reports whether the receiver got message id for rcpt alone.
func deliveredTo(mx *smtptest.Server, id, rcpt string) bool {
	for _, m := range mx.Messages() {
		if strings.Contains(string(m.Data), id) && len(m.Rcpts) == 1 && m.Rcpts[0] == rcpt {
			return true
		}
	}
	return false
}

// TestSuppressionReadmeExample runs the README's suppression-list example
// (add, list, remove) against the real daemon.
func TestSuppressionReadmeExample(t *testing.T) {
	curl := needTool(t, "curl")
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## The suppression list\n")
	if !ok {
		t.Fatal(`README.md has no "## The suppression list" section`)
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	m := regexp.MustCompile("(?s)```sh\n(.*?)```").FindStringSubmatch(sec)
	if m == nil {
		t.Fatal("no sh example in the suppression list section")
	}
	w := newMXWorld(t, "example.net. MX 10 mx.example.net.", "mx.example.net. A 127.0.0.3")
	w.mx(t, "127.0.0.3", smtptest.Options{})
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	api := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	d := startDaemon(t, dir, w.config(t, dir, addr, fmt.Sprintf("[api]\naddress = %q\n", api)), addr)
	script := strings.ReplaceAll(m[1], "127.0.0.1:8587", api)
	script = strings.ReplaceAll(script, "curl ", curl+" -w '\\nHTTP%{http_code}\\n' ")
	out, err := exec.Command("bash", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, script, out)
	}
	var codes, bodies []string
	for _, l := range strings.Split(string(out), "\n") {
		switch l = strings.TrimSpace(l); {
		case strings.HasPrefix(l, "HTTP"):
			codes = append(codes, l)
		case l != "":
			bodies = append(bodies, l)
		}
	}
	if strings.Join(codes, " ") != "HTTP201 HTTP200 HTTP204" || len(bodies) != 2 ||
		!strings.Contains(bodies[0], `"reason":"manual"`) || !strings.Contains(bodies[1], `"address":"ann@example.net"`) {
		t.Errorf("the README example answered:\n%s", out)
	}
	if list := d.cli("suppressions", "list"); !strings.Contains(list, "no suppressed addresses") {
		t.Errorf("after the example's DELETE:\n%s", list)
	}
}
