package submission

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// clientConn is an admitted client connection, under TLS if any. It gives
// its slot back when closed and owns the read deadlines go-smtp asks for,
// tightening them where go-smtp has no notion of the limit:
//
//   - before AUTH, an untrusted client waits at most limiter's preAuth for
//     each read (go-smtp would give it ReadTimeout);
//   - during a DATA or BDAT transfer, each read that returns data extends
//     the deadline by the read timeout (go-smtp sets one deadline per
//     command), but never past the transfer's wall-clock end. A read
//     that times out during a transfer gets replyDataTimeout, and every read
//     after it io.EOF, so that go-smtp sends that reply and closes the
//     connection instead of reading the rest of the message as commands.
//
// What the server writes is held until it reads or closes (replyBuffer).
type clientConn struct {
	net.Conn
	out     replyBuffer
	lim     *limiter
	ip      netip.Addr
	trusted bool
	closing sync.Once

	mu          sync.Mutex
	authed      bool
	want        time.Time // the read deadline last asked for; zero: none
	transferEnd time.Time // zero: no transfer in progress
	dead        bool      // a transfer timed out
	lingers     bool      // closed on the client while it may be sending
}

func newClientConn(c net.Conn, lim *limiter, ip netip.Addr, trusted bool) *clientConn {
	cc := &clientConn{Conn: c, lim: lim, ip: ip, trusted: trusted}
	cc.mu.Lock()
	cc.applyLocked()
	cc.mu.Unlock()
	return cc
}

// connOf returns the clientConn under c (which may be its TLS wrapper), or
// nil if c did not come from a limitListener.
func connOf(c net.Conn) *clientConn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	cc, _ := c.(*clientConn)
	return cc
}

func (c *clientConn) Write(p []byte) (int, error) { return c.out.write(c.Conn, p) }

func (c *clientConn) Close() error {
	c.out.flushBeforeClose(c.Conn)
	c.closing.Do(func() {
		c.mu.Lock()
		anon, lingers := !c.authed, c.lingers
		c.mu.Unlock()
		c.lim.release(c.ip, c.trusted, anon)
		if lingers {
			c.linger()
		}
	})
	return c.Conn.Close()
}

// lingerFor bounds the reading of what a timed-out client is still
// sending: closing a socket with unread data sends a TCP reset, which can
// destroy our last reply before the client reads it.
const lingerFor = time.Second

func (c *clientConn) linger() {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.Conn.SetReadDeadline(time.Now().Add(lingerFor))
	_, _ = io.Copy(io.Discard, io.LimitReader(c.Conn, 1<<20))
}

func (c *clientConn) Read(p []byte) (int, error) {
	if err := c.out.flush(c.Conn); err != nil {
		return 0, err
	}
	c.mu.Lock()
	dead, inTransfer := c.dead, !c.transferEnd.IsZero()
	c.mu.Unlock()
	if dead {
		return 0, io.EOF
	}
	n, err := c.Conn.Read(p)
	timedOut := errors.Is(err, os.ErrDeadlineExceeded)
	if !inTransfer && !timedOut {
		return n, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if timedOut {
		c.lingers = true
	}
	if !inTransfer {
		return n, err
	}
	if timedOut {
		c.dead = true
		return n, replyDataTimeout
	}
	if n > 0 && c.lim.lim.idle > 0 {
		// Within a transfer the read timeout is one of inactivity.
		c.want = time.Now().Add(c.lim.lim.idle)
		_ = c.applyLocked()
	}
	return n, err
}

func (c *clientConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.want = t
	return c.applyLocked()
}

func (c *clientConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetWriteDeadline first writes the held replies when t has passed:
// crypto/tls sets such a deadline right after its close_notify alert, so
// that nothing more goes out, and then closes; the last reply (221 to
// QUIT) is still held at that point.
func (c *clientConn) SetWriteDeadline(t time.Time) error {
	if !t.IsZero() && !t.After(time.Now()) {
		c.out.flushBeforeClose(c.Conn)
	}
	return c.Conn.SetWriteDeadline(t)
}

// applyLocked sets the connection's read deadline: the one asked for,
// tightened by the pre-AUTH timeout and the transfer's end.
func (c *clientConn) applyLocked() error {
	d := c.want
	earlier := func(t time.Time) {
		if d.IsZero() || t.Before(d) {
			d = t
		}
	}
	if !c.trusted && !c.authed && c.lim.lim.preAuth > 0 {
		earlier(time.Now().Add(c.lim.lim.preAuth))
	}
	if !c.transferEnd.IsZero() {
		earlier(c.transferEnd)
	}
	return c.Conn.SetReadDeadline(d)
}

// lingerAtClose makes Close read what the client still sends for a while:
// the connection is being closed on it.
func (c *clientConn) lingerAtClose() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lingers = true
}

// authenticated lifts the pre-AUTH limits: the client has authenticated.
func (c *clientConn) authenticated() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.authed {
		return
	}
	c.authed = true
	if !c.trusted {
		c.lim.promote()
	}
	_ = c.applyLocked()
}

// beginTransfer bounds every read from now on to d from now, until
// endTransfer; d <= 0 sets no bound. Within a transfer it changes nothing:
// a BDAT transfer starts at its first command, before Data.
func (c *clientConn) beginTransfer(d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.transferEnd.IsZero() {
		return
	}
	c.transferEnd = time.Now().Add(d)
	_ = c.applyLocked()
}

func (c *clientConn) endTransfer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.transferEnd.IsZero() {
		return
	}
	c.transferEnd = time.Time{}
	_ = c.applyLocked()
}
