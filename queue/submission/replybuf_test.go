package submission

import (
	"bufio"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// writeCounter is a listener whose connections record each Write.
type writeCounter struct {
	net.Listener
	mu     sync.Mutex
	writes []string
}

func (l *writeCounter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countedConn{Conn: c, l: l}, nil
}

func (l *writeCounter) since(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.writes[n:]...)
}

type countedConn struct {
	net.Conn
	l *writeCounter
}

func (c *countedConn) Write(p []byte) (int, error) {
	c.l.mu.Lock()
	c.l.writes = append(c.l.writes, string(p))
	c.l.mu.Unlock()
	return c.Conn.Write(p)
}

// TestRepliesCoalesced: the replies to a pipelined group go out in one
// write, and so does a multiline EHLO reply (RFC 2920 §3.2); a reply the
// client waits for is never held back.
func TestRepliesCoalesced(t *testing.T) {
	srv, err := New(Options{
		Hostname:       "outbox.test",
		MaxMessageSize: 4096,
		ReadTimeout:    5 * time.Second,
		WriteTimeout:   5 * time.Second,
		Trusted:        []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		Spool:          newFakeSpool(t),
		Logger:         slog.New(slog.NewTextHandler(&logBuffer{}, nil)),
		Now:            func() time.Time { return testNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &writeCounter{Listener: ln}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})

	c := dial(t, ln.Addr().String(), "127.0.0.1")
	r := bufio.NewReader(c)
	// readReply reads one reply, multiline or not, and returns its last line.
	readReply := func() string {
		t.Helper()
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading a reply: %v", err)
			}
			if len(line) < 4 || line[3] != '-' {
				return line
			}
		}
	}
	send := func(s string) {
		t.Helper()
		if _, err := c.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name, send string
		replies    int    // replies the client reads before the next step
		last       string // prefix of the last one
	}{
		{name: "greeting", replies: 1, last: "220 "},
		{name: "EHLO", send: "EHLO client.test\r\n", replies: 1, last: "250 "},
		{name: "MAIL, RCPT, RCPT, DATA", send: "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\nRCPT TO:<c@dst.test>\r\nDATA\r\n", replies: 4, last: "354 "},
		{name: "message", send: "Subject: x\r\n\r\nhi\r\n.\r\n", replies: 1, last: "250 "},
	}
	n := 0 // writes so far: the server writes nothing the client did not ask for
	for _, st := range steps {
		if st.send != "" {
			send(st.send)
		}
		var last string
		for range st.replies {
			last = readReply()
		}
		if !strings.HasPrefix(last, st.last) {
			t.Fatalf("%s: last reply %q, want %q", st.name, last, st.last)
		}
		if w := l.since(n); len(w) != 1 {
			t.Errorf("%s: %d replies in %d writes %q, want one write", st.name, st.replies, len(w), w)
		}
		n = len(l.since(0))
	}
	// QUIT: the reply goes out with the close.
	send("QUIT\r\n")
	if got := readReply(); !strings.HasPrefix(got, "221 ") {
		t.Errorf("QUIT: %q", got)
	}
}

// TestQuitOverTLSGetsItsReply: the 221 to QUIT is still held when
// crypto/tls sends its close_notify and forbids further writes; it must
// go out first.
func TestQuitOverTLSGetsItsReply(t *testing.T) {
	serverTLS, clientTLS := selfSigned(t)
	ts := startServer(t, func(o *Options) { o.TLSConfig = serverTLS })
	for i := range 3 {
		c := startTLSClient(t, ts.addr, "127.0.0.1", clientTLS)
		if err := c.Noop(); err != nil {
			t.Fatal(err)
		}
		if err := c.Quit(); err != nil {
			t.Fatalf("QUIT %d over TLS: %v", i, err)
		}
	}
}
