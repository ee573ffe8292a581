package integration

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery/smtptest"
)

// TestJSONLogs: with log.format = "json" every line the daemon writes is
// a JSON object; the acceptance line carries the message's own Message-ID
// and the recipients as one list, the attempt line each recipient's outcome
// as an array; a hostname that is not a FQDN gets a warning at start.
func TestJSONLogs(t *testing.T) {
	w := newMXWorld(t, "example.net. MX 10 mx.example.net.", "mx.example.net. A 127.0.0.3")
	w.mx(t, "127.0.0.3", smtptest.Options{})
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	cfg := strings.Replace(w.config(t, dir, addr, "[log]\nformat = \"json\"\nlevel = \"info\"\n"),
		`hostname = "outbox.test"`, `hostname = "vm"`, 1)
	d := startDaemon(t, dir, cfg, addr)
	submit(t, addr, "app@example.org", []string{"a@example.net", "b@example.net"},
		"From: app@example.org\r\nMessage-ID: <order-42@app.example.org>\r\nSubject: json\r\n\r\nbody\r\n")
	d.waitQueueEmpty(60 * time.Second)

	var lines []map[string]any
	waitFor(t, "a delivery attempt line", 30*time.Second, func() bool {
		lines = lines[:0]
		for _, l := range strings.Split(strings.TrimSpace(d.log.String()), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("log line is not JSON: %v\n%s", err, l)
			}
			lines = append(lines, m)
		}
		return slices.ContainsFunc(lines, func(m map[string]any) bool { return m["msg"] == "delivery attempt" })
	})
	find := func(msg string) map[string]any {
		t.Helper()
		for _, m := range lines {
			if m["msg"] == msg {
				return m
			}
		}
		t.Fatalf("no %q line in:\n%s", msg, d.log.String())
		return nil
	}
	if warn := find(`"vm" is not a fully qualified domain name; it is sent in EHLO and used in Message-IDs and sendmail's default sender, and receiving MX hosts may refuse it (RFC 5321 §4.1.1.1): set hostname to this host's public name, e.g. "mail.example.com"`); warn["level"] != "WARN" || warn["key"] != "hostname" {
		t.Errorf("hostname warning %v", warn)
	}
	acc := find("accepted")
	if acc["message_id"] != "<order-42@app.example.org>" {
		t.Errorf("accepted: message_id %v, want the message's own", acc["message_id"])
	}
	if got := fmt.Sprint(acc["rcpts"]); got != "[a@example.net b@example.net]" {
		t.Errorf("accepted: rcpts %s, want a list of both", got)
	}
	att := find("delivery attempt")
	rcpts, ok := att["rcpts"].([]any)
	if !ok || len(rcpts) != 2 {
		t.Fatalf("delivery attempt: rcpts %v, want an array of 2", att["rcpts"])
	}
	for _, r := range rcpts {
		o, _ := r.(map[string]any)
		if o["status"] != "delivered" || !strings.HasPrefix(fmt.Sprint(o["reply"]), "250") {
			t.Errorf("delivery attempt recipient %v", r)
		}
	}
	for k := range att {
		if strings.HasPrefix(k, "rcpt.") {
			t.Errorf("delivery attempt has a key per address: %s", k)
		}
	}
}
