package submission

import (
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
)

// gatedAuth holds every password check until released, so that a test can
// see how many checks run at once.
type gatedAuth struct {
	entered atomic.Int32
	release chan struct{}
}

func (g *gatedAuth) Authenticate(user, pass string) error {
	g.entered.Add(1)
	<-g.release
	if user == "alice" && pass == "right" {
		return nil
	}
	return ErrBadCredentials
}

// TestAuthThrottleHoldsUnderConcurrency: N parallel guesses from one
// address over real SMTP AUTH; only AuthMaxFailures of them may reach the
// password check, the others get 454 without one.
func TestAuthThrottleHoldsUnderConcurrency(t *testing.T) {
	const n, max = 24, 5
	auth := &gatedAuth{release: make(chan struct{})}
	serverTLS, clientTLS := selfSigned(t)
	ts := startServer(t, func(o *Options) {
		o.Auth = auth
		o.TLSConfig = serverTLS
		o.AuthMaxFailures = max
		o.MaxConnections = 2 * n
		o.MaxConnectionsPerClient = 2 * n
	})
	var throttled atomic.Int32
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := startTLSClient(t, ts.addr, "127.0.0.2", clientTLS)
			defer c.Close()
			err := c.Auth(sasl.NewPlainClient("", "alice", "guess"))
			got, _ := code(t, err)
			if got == 454 {
				throttled.Add(1)
			}
			codes <- got
		}()
	}
	// Every guess is either inside the check or refused before it.
	waitFor(t, "every guess to be checked or refused", func() bool {
		return int(auth.entered.Load()+throttled.Load()) == n
	})
	close(auth.release)
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if checked := int(auth.entered.Load()); checked != max {
		t.Errorf("%d of %d parallel guesses checked, want %d (replies %v)", checked, n, max, count)
	}
	if count[535] != max || count[454] != n-max {
		t.Errorf("replies %v, want %d × 535 and %d × 454", count, max, n-max)
	}
}

func TestAuthRightPasswordIsNotCounted(t *testing.T) {
	auth := &gatedAuth{release: make(chan struct{})}
	close(auth.release)
	serverTLS, clientTLS := selfSigned(t)
	ts := startServer(t, func(o *Options) { o.Auth = auth; o.TLSConfig = serverTLS; o.AuthMaxFailures = 2 })
	for i := range 4 {
		c := startTLSClient(t, ts.addr, "127.0.0.2", clientTLS)
		if err := c.Auth(sasl.NewPlainClient("", "alice", "right")); err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
		c.Close()
	}
}

// TestAuthUndecodableBase64 follows RFC 4954 §4: 501 5.5.2, for an initial
// response and for a response to a challenge.
func TestAuthUndecodableBase64(t *testing.T) {
	ts, _ := startAuthServer(t, nil)
	raw := newRaw(t, dial(t, ts.addr, "127.0.0.1"))
	raw.reply()
	raw.cmd("EHLO c\r\n")
	expect(t, raw.cmd("AUTH PLAIN !!!notbase64\r\n"), "501 5.5.2")
	expect(t, raw.cmd("AUTH LOGIN\r\n"), "334 ")
	expect(t, raw.cmd("%%%\r\n"), "501 5.5.2")
	expect(t, raw.cmd("AUTH LOGIN\r\n"), "334 ")
	expect(t, raw.cmd("*\r\n"), "501 ")
	expect(t, raw.cmd("NOOP\r\n"), "250 ")
}

// dialRaw connects from from and reads the greeting.
func dialRaw(t *testing.T, addr, from string) (*rawSession, string) {
	t.Helper()
	raw := newRaw(t, dial(t, addr, from))
	return raw, raw.reply()
}

// TestConnectionFairness: one untrusted address cannot take every slot;
// another address and trusted clients are still served.
func TestConnectionFairness(t *testing.T) {
	ts := startServer(t, func(o *Options) {
		o.MaxConnections = 10
		o.ReservedConnections = 2
		o.MaxConnectionsPerClient = 4
	})
	for i := range 4 {
		if _, g := dialRaw(t, ts.addr, "127.0.0.2"); !strings.HasPrefix(g, "220 ") {
			t.Fatalf("connection %d from 127.0.0.2: %q", i, g)
		}
	}
	_, g := dialRaw(t, ts.addr, "127.0.0.2")
	expect(t, g, "421 4.7.0 outbox.test too many connections from your address")
	for range 4 {
		if _, g := dialRaw(t, ts.addr, "127.0.0.3"); !strings.HasPrefix(g, "220 ") {
			t.Fatalf("127.0.0.3: %q", g)
		}
	}
	_, g = dialRaw(t, ts.addr, "127.0.0.4")
	expect(t, g, "421 4.7.0 outbox.test too many connections from unauthenticated clients")
	// The reserved slots serve the trusted network.
	raw, g := dialRaw(t, ts.addr, "127.0.0.1")
	expect(t, g, "220 ")
	raw.cmd("EHLO c\r\n")
	expect(t, raw.cmd("MAIL FROM:<a@example.com>\r\n"), "250 ")
}

func TestConnectionRate(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.ConnectionRate = 3 })
	for i := range 3 {
		raw, g := dialRaw(t, ts.addr, "127.0.0.2")
		expect(t, g, "220 ")
		raw.cmd("QUIT\r\n")
		_ = i
	}
	_, g := dialRaw(t, ts.addr, "127.0.0.2")
	expect(t, g, "421 4.7.0 outbox.test too many connections from your address in a short time")
	_, g = dialRaw(t, ts.addr, "127.0.0.1")
	expect(t, g, "220 ")
}

// TestAuthenticatedLeavesUnauthenticatedShare: once authenticated, a
// connection no longer counts against the untrusted share.
func TestAuthenticatedLeavesUnauthenticatedShare(t *testing.T) {
	ts, clientTLS := startAuthServer(t, func(o *Options) {
		o.MaxConnections = 4
		o.ReservedConnections = 2
	})
	c := startTLSClient(t, ts.addr, "127.0.0.2", clientTLS)
	if err := c.Auth(sasl.NewPlainClient("", "alice", "s3cret-pw")); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_, g := dialRaw(t, ts.addr, "127.0.0.3")
		expect(t, g, "220 ")
	}
	_, g := dialRaw(t, ts.addr, "127.0.0.3")
	expect(t, g, "421 4.7.0")
}

// closedWithin reads until the server closes the connection and returns
// the last reply line and how long that took.
func closedWithin(t *testing.T, raw *rawSession) (string, time.Duration) {
	t.Helper()
	start := time.Now()
	_ = raw.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	var last string
	for {
		line, err := raw.r.ReadString('\n')
		if line != "" {
			last = strings.TrimRight(line, "\r\n")
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("waiting for the server to close: %v", err)
			}
			return last, time.Since(start)
		}
	}
}

func TestPreAuthTimeout(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.PreAuthTimeout = 300 * time.Millisecond })
	raw, _ := dialRaw(t, ts.addr, "127.0.0.2")
	raw.cmd("EHLO c\r\n")
	last, took := closedWithin(t, raw)
	expect(t, last, "421 4.4.2")
	if took > 3*time.Second {
		t.Errorf("untrusted idle client kept for %v, pre-AUTH timeout 300ms (read timeout 5s)", took)
	}
	// A trickled partial line does not extend it.
	trickler, _ := dialRaw(t, ts.addr, "127.0.0.2")
	trickler.cmd("EHLO c\r\n")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond): // the client's pace
			}
			if _, err := trickler.c.Write([]byte("N")); err != nil {
				return
			}
		}
	}()
	last, took = closedWithin(t, trickler)
	expect(t, last, "421 4.4.2")
	if took > 3*time.Second {
		t.Errorf("client trickling a partial line kept for %v, pre-AUTH timeout 300ms", took)
	}
	// Trusted clients keep the read timeout.
	raw, _ = dialRaw(t, ts.addr, "127.0.0.1")
	raw.cmd("EHLO c\r\n")
	_ = raw.c.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := raw.r.ReadString('\n'); err == nil || !isTimeout(err) {
		t.Errorf("trusted client: %v, want our own read timeout", err)
	}
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

func TestJunkCommandLimit(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.MaxJunkCommands = 3 })
	raw, _ := dialRaw(t, ts.addr, "127.0.0.2")
	raw.cmd("EHLO c\r\n")
	expect(t, raw.cmd("NOOP\r\n"), "250 ")
	expect(t, raw.cmd("RSET\r\n"), "250 ")
	expect(t, raw.cmd("VRFY x\r\n"), "252 ")
	_, _ = io.WriteString(raw.c, "NOOP\r\n")
	last, _ := closedWithin(t, raw)
	expect(t, last, "421 4.7.0 outbox.test Too many commands")
	// Trusted: no limit.
	raw, _ = dialRaw(t, ts.addr, "127.0.0.1")
	raw.cmd("EHLO c\r\n")
	for range 10 {
		expect(t, raw.cmd("NOOP\r\n"), "250 ")
	}
}

// TestDataTimeoutIsWallClock trickles one byte per interval shorter than
// the read timeout: the transfer must still end at DataTimeout.
func TestDataTimeoutIsWallClock(t *testing.T) {
	for _, mode := range []string{"DATA", "BDAT"} {
		t.Run(mode, func(t *testing.T) {
			ts := startServer(t, func(o *Options) {
				o.ReadTimeout = 800 * time.Millisecond
				o.DataTimeout = 1500 * time.Millisecond
			})
			raw, _ := dialRaw(t, ts.addr, "127.0.0.1")
			raw.cmd("EHLO c\r\n")
			raw.cmd("MAIL FROM:<a@example.com>\r\n")
			raw.cmd("RCPT TO:<b@example.org>\r\n")
			if mode == "DATA" {
				expect(t, raw.cmd("DATA\r\n"), "354 ")
			} else {
				_, _ = io.WriteString(raw.c, "BDAT 4000 LAST\r\nSubject: x\r\n\r\n")
			}
			start := time.Now()
			done := make(chan struct{})
			go func() {
				defer close(done)
				for time.Since(start) < 10*time.Second {
					if _, err := raw.c.Write([]byte("x")); err != nil {
						return
					}
					time.Sleep(200 * time.Millisecond) // the client's pace
				}
			}()
			last, _ := closedWithin(t, raw)
			took := time.Since(start)
			<-done
			if !strings.Contains(last, "4.4.2") && !strings.HasPrefix(last, "421") {
				t.Errorf("last reply %q, want 421 4.4.2", last)
			}
			if took > 4*time.Second {
				t.Errorf("trickled %s lasted %v, data timeout 1.5s", mode, took)
			}
			if ts.spool.count() != 0 {
				t.Error("message stored")
			}
		})
	}
}
