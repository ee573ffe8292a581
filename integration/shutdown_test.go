package integration

import (
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery/smtptest"
)

// TestGracefulStop sends SIGTERM while a client is in the middle of a
// message body and while deliveries are held at the MX's final dot. The
// listener stops accepting, the client's transaction still completes with
// 250, the held deliveries are abandoned to the queue when the bound
// (limits.shutdown_timeout) runs out, the daemon exits cleanly, and after a
// restart every accepted message reaches every recipient.
func TestGracefulStop(t *testing.T) {
	const held = 3
	w := newMXWorld(t,
		"example.net. MX 10 mx.example.net.",
		"mx.example.net. A 127.0.0.2",
	)
	var (
		mu       sync.Mutex
		received int
		release  = make(chan struct{})
	)
	mx := w.mx(t, "127.0.0.2", smtptest.Options{Data: func(*smtptest.Message) error {
		mu.Lock()
		received++
		mu.Unlock()
		<-release // the final dot waits for the test
		return nil
	}})
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	cfg := w.config(t, dir, addr, "[limits]\nshutdown_timeout = \"3s\"")
	d := startDaemon(t, dir, cfg, addr)

	rcpts := []string{"a@example.net", "b@example.net"}
	for i := range held {
		submit(t, addr, "load@example.com", rcpts,
			fmt.Sprintf("From: load@example.com\r\nX-Test-Tag: %d\r\nSubject: held %d\r\n\r\nbody\r\n", i, i))
	}
	waitFor(t, "deliveries held at the final dot", 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return received == held
	})

	c := midBodyClient(t, addr, held, rcpts)

	d.cmd.Process.Signal(syscall.SIGTERM)
	waitFor(t, "the listener to stop accepting", 10*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	// The transaction in progress is let finish.
	if err := c.PrintfLine("second half\r\n."); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.ReadResponse(250); err != nil {
		t.Fatalf("final dot after SIGTERM: %v %s", err, msg)
	}
	c.PrintfLine("QUIT") // the daemon may already have closed the connection

	start := time.Now()
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("outbox did not exit after SIGTERM\n%s", d.log)
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit status %d\n%s", code, d.log)
	}
	log := d.log.String()
	for _, want := range []string{"in-flight deliveries abandoned to the queue", "outbox stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	// The race detector adds about 1s at exit (atexit_sleep_ms).
	summary(t, "exited %v after the final dot (shutdown_timeout 3s)", time.Since(start).Round(100*time.Millisecond))

	// The held transactions end now; their outcome was never recorded, so
	// they are sent again after the restart (at-least-once).
	close(release)
	d.start()
	d.waitQueueEmpty(60 * time.Second)

	reachedAll(t, mx, held+1, rcpts)
}

// midBodyClient opens an SMTP session on addr and leaves it in the middle
// of the body of a message tagged tag for rcpts. The connection is closed
// when the test ends.
func midBodyClient(t *testing.T, addr string, tag int, rcpts []string) *textproto.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := textproto.NewConn(conn)
	step := func(cmd string, code int) {
		t.Helper()
		if cmd != "" {
			if err := c.PrintfLine("%s", cmd); err != nil {
				t.Fatal(err)
			}
		}
		if _, msg, err := c.ReadResponse(code); err != nil {
			t.Fatalf("%q: %v %s", cmd, err, msg)
		}
	}
	step("", 220)
	step("EHLO client.test", 250)
	step("MAIL FROM:<late@example.com>", 250)
	for _, r := range rcpts {
		step("RCPT TO:<"+r+">", 250)
	}
	step("DATA", 354)
	if err := c.PrintfLine("From: late@example.com\r\nX-Test-Tag: %d\r\nSubject: mid-body\r\n\r\nfirst half", tag); err != nil {
		t.Fatal(err)
	}
	return c
}

// reachedAll fails t unless every message tagged 0 to n-1 reached every
// one of rcpts at mx.
func reachedAll(t *testing.T, mx *smtptest.Server, n int, rcpts []string) {
	t.Helper()
	seen := map[string]int{}
	for _, m := range mx.Messages() {
		tag := tagRE.FindSubmatch(m.Data)
		if tag == nil {
			t.Fatalf("message without a tag:\n%s", m.Data)
		}
		for _, r := range m.Rcpts {
			seen[string(tag[1])+" "+r]++
		}
	}
	for i := range n {
		for _, r := range rcpts {
			if seen[fmt.Sprintf("%d %s", i, r)] == 0 {
				t.Errorf("message %d never reached %s", i, r)
			}
		}
	}
}
