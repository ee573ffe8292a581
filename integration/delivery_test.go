package integration

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/outbox-mta/outbox/delivery/smtptest"
	"github.com/outbox-mta/outbox/mxresolve/dnstest"
)

// mxWorld is a small Internet on loopback: a DNS server and MX hosts that
// all listen on one port (Outbox's delivery.port) at different 127.0.0.x
// addresses.
type mxWorld struct {
	dns  *dnstest.Server
	port int
}

func newMXWorld(t *testing.T, records ...string) *mxWorld {
	t.Helper()
	w := &mxWorld{dns: &dnstest.Server{Zone: dnstest.Zone(t, records...)}}
	w.dns.Start(t)
	w.port = freePort(t, "127.0.0.3")
	return w
}

// mx starts an SMTP server on ip at the world's port.
func (w *mxWorld) mx(t *testing.T, ip string, opts smtptest.Options) *smtptest.Server {
	t.Helper()
	opts.Addr = fmt.Sprintf("%s:%d", ip, w.port)
	return smtptest.Start(t, opts)
}

// config is a daemon configuration delivering into this world with short
// retry intervals, submission open to loopback.
func (w *mxWorld) config(t *testing.T, dir, submit, extra string) string {
	t.Helper()
	return fmt.Sprintf(`
hostname = "outbox.test"
[spool]
dir = %q
[[listen.submission]]
address = %q
[delivery]
resolver = %q
port = %d
first_retry = "1s"
max_retry_interval = "2s"
%s
`, filepath.Join(dir, "spool"), submit, w.dns.Addr(), w.port, extra)
}

// submit sends one message through the daemon's submission port.
func submit(t *testing.T, addr, from string, to []string, body string) {
	t.Helper()
	if err := trySubmit(addr, from, to, body); err != nil {
		t.Fatalf("submitting to %s: %v", addr, err)
	}
}

// trySubmit is one plain SMTP transaction (the daemon trusts loopback).
func trySubmit(addr, from string, to []string, body string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		return err
	}
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	wc, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := wc.Write([]byte(body)); err != nil {
		return err
	}
	if err := wc.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// waitQueueEmpty waits until every recipient of every message is final.
func (d *daemon) waitQueueEmpty(timeout time.Duration) {
	d.t.Helper()
	waitFor(d.t, "an empty active queue", timeout, func() bool { return len(d.queueJSON()) == 0 })
}

func TestDeliveryMXFallbackPartialFailureBounceAndRetry(t *testing.T) {
	w := newMXWorld(t,
		"example.net. MX 10 mx1.example.net.",
		"example.net. MX 20 mx2.example.net.",
		"mx1.example.net. A 127.0.0.2", // nothing listens there
		"mx2.example.net. A 127.0.0.3",
		"example.com. MX 10 mx.example.com.",
		"mx.example.com. A 127.0.0.4",
	)
	var laterTries atomic.Int32
	mx2 := w.mx(t, "127.0.0.3", smtptest.Options{Rcpt: func(to string) error {
		switch to {
		case "unknown@example.net":
			return smtptest.Reply(550, "5.1.1", "no such user")
		case "later@example.net":
			if laterTries.Add(1) == 1 {
				return smtptest.Reply(450, "4.2.0", "try again later")
			}
		}
		return nil
	}})
	senderMX := w.mx(t, "127.0.0.4", smtptest.Options{})

	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	d := startDaemon(t, dir, w.config(t, dir, addr, ""), addr)

	submit(t, addr, "sender@example.com",
		[]string{"ok@example.net", "unknown@example.net", "later@example.net"},
		"From: sender@example.com\r\nTo: ok@example.net\r\nSubject: partial\r\n\r\nbody\r\n")
	d.waitQueueEmpty(60 * time.Second)

	// ok@ in the first transaction, later@ in the retry; both to mx2, since
	// mx1 refuses connections.
	got := map[string]int{}
	for _, m := range mx2.Messages() {
		for _, r := range m.Rcpts {
			got[r]++
		}
	}
	if want := map[string]int{"ok@example.net": 1, "later@example.net": 1}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("delivered to mx2: %v, want %v", got, want)
	}

	var msgs []map[string]any
	for _, m := range d.queueJSONArgs("--done") {
		if m["from"] == "sender@example.com" {
			msgs = append(msgs, m)
		}
	}
	if len(msgs) != 1 {
		t.Fatalf("messages from sender@example.com: %v", msgs)
	}
	want := map[string]string{"ok@example.net": "delivered", "unknown@example.net": "bounced", "later@example.net": "delivered"}
	if got := recipients(msgs[0]); !mapsEqual(got, want) {
		t.Errorf("recipient states %v, want %v", got, want)
	}

	bounces := d.cli("bounces", "--json")
	if !strings.Contains(bounces, "unknown@example.net") || !strings.Contains(bounces, "5.1.1") || strings.Contains(bounces, "later@") {
		t.Errorf("bounce log:\n%s", bounces)
	}

	// The DSN went to the sender's MX from the null sender.
	waitFor(t, "the bounce notice at the sender's MX", 30*time.Second, func() bool { return len(senderMX.Messages()) > 0 })
	dsn := senderMX.Messages()[0]
	if dsn.From != "" || len(dsn.Rcpts) != 1 || dsn.Rcpts[0] != "sender@example.com" {
		t.Errorf("DSN envelope: from %q to %v", dsn.From, dsn.Rcpts)
	}
	for _, s := range []string{"multipart/report", "report-type=delivery-status", "Final-Recipient: rfc822; unknown@example.net", "Status: 5.1.1", "Subject: partial"} {
		if !bytes.Contains(dsn.Data, []byte(s)) {
			t.Errorf("DSN lacks %q:\n%s", s, dsn.Data)
		}
	}
	if bytes.Contains(dsn.Data, []byte("later@example.net")) {
		t.Errorf("DSN mentions the deferred-then-delivered recipient:\n%s", dsn.Data)
	}
}

func (d *daemon) queueJSONArgs(args ...string) []map[string]any {
	d.t.Helper()
	return d.decodeList(d.cli(append([]string{"queue", "list", "--json"}, args...)...))
}
