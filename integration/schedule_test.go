package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/outbox-mta/outbox/delivery/smtptest"
)

// TestAPIScheduledSend: a message posted with deliver_after is spooled at
// once (202) but not attempted before its time: the receiver gets nothing
// until then, and the message right after.
func TestAPIScheduledSend(t *testing.T) {
	w := newMXWorld(t, "example.net. MX 10 mx.example.net.", "mx.example.net. A 127.0.0.3")
	mx := w.mx(t, "127.0.0.3", smtptest.Options{})
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	api := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	d := startDaemon(t, dir, w.config(t, dir, addr, fmt.Sprintf("[api]\naddress = %q\n", api)), addr)

	at := time.Now().Add(4 * time.Second).Truncate(time.Second)
	status, out := postJSON(t, api, `{"from":"shop@example.com","to":["ann@example.net"],"subject":"later","text":"x",
		"deliver_after":"`+at.UTC().Format(time.RFC3339)+`","tags":["trial"]}`)
	if status != 202 {
		t.Fatalf("POST: %d %v", status, out)
	}
	id, _ := out["id"].(string)
	if show := d.cli("queue", "show", id); !strings.Contains(show, "scheduled:") || !strings.Contains(show, "attempts 0") {
		t.Errorf("queue show of the scheduled message:\n%s", show)
	}
	// Until its time, the receiver has nothing: checked on every poll, the
	// last one just before the scheduled second.
	for time.Until(at) > 200*time.Millisecond {
		if n := len(mx.Messages()); n != 0 {
			t.Fatalf("%d messages delivered %v before the scheduled time", n, time.Until(at))
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
	waitFor(t, "the scheduled message", 20*time.Second, func() bool { return len(mx.Messages()) == 1 })
	if got := subjectOf(mx.Messages()[0].Data); got != "later" {
		t.Errorf("delivered %q", got)
	}
}

// TestSMTPIdempotencyKey: a client that resubmits a message with the same
// Outbox-Idempotency-Key (as after a lost 250) gets the first queue ID,
// and the message is delivered once, without the field.
func TestSMTPIdempotencyKey(t *testing.T) {
	w := newMXWorld(t, "example.net. MX 10 mx.example.net.", "mx.example.net. A 127.0.0.3")
	mx := w.mx(t, "127.0.0.3", smtptest.Options{})
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	d := startDaemon(t, dir, w.config(t, dir, addr, ""), addr)

	msg := "Outbox-Idempotency-Key: order-1042-shipped\r\nSubject: shipped\r\n\r\nTracking: 1Z999\r\n"
	first := submitReply(t, addr, msg)
	d.waitQueueEmpty(30 * time.Second)
	if again := submitReply(t, addr, msg); again != first {
		t.Errorf("resubmission answered %q, want the first %q", again, first)
	}
	d.waitQueueEmpty(30 * time.Second)
	msgs := mx.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d deliveries, want 1", len(msgs))
	}
	if strings.Contains(string(msgs[0].Data), "Idempotency") {
		t.Errorf("the key field reached the receiver:\n%s", msgs[0].Data)
	}
}

// submitReply is one SMTP transaction to addr; it returns the 250 text.
func submitReply(t *testing.T, addr, body string) string {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("shop@example.com", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("ann@example.net", nil); err != nil {
		t.Fatal(err)
	}
	wc, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wc.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	resp, err := wc.CloseWithResponse()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(resp.StatusText, "queued as ") {
		t.Fatalf("reply %q", resp.StatusText)
	}
	return resp.StatusText
}
