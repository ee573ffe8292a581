package delivery

import (
	"context"
	"net"
	"sync"
	"time"
)

// deadlineConn owns the deadlines of an outbound connection. go-smtp's client
// sets and clears deadlines itself around commands but leaves body writes
// without any, so its SetDeadline calls are ignored here and instead:
//
//   - the session announces each phase with its timeout (setPhase);
//   - the deadline is re-armed to now+timeout at the start of the phase and
//     at every Write — a Write is the start of a command (whose reply must
//     come within the timeout) or one data block (RFC 5321 §4.5.3.2: each
//     block 3 minutes);
//   - once the bound context is done, every I/O fails at once.
type deadlineConn struct {
	net.Conn

	mu       sync.Mutex
	timeout  time.Duration
	deadline time.Time
	canceled bool
}

func newDeadlineConn(c net.Conn, timeout time.Duration) *deadlineConn {
	dc := &deadlineConn{Conn: c}
	dc.setPhase(timeout)
	return dc
}

// setPhase starts a phase whose steps must each complete within timeout.
func (c *deadlineConn) setPhase(timeout time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timeout = timeout
	c.deadline = time.Now().Add(timeout)
}

// pastDeadline is any time in the past: it fails pending and future I/O.
var pastDeadline = time.Unix(1, 0)

func (c *deadlineConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	d := c.deadline
	if c.canceled {
		d = pastDeadline
	}
	// Set under the lock so that a concurrent cancel cannot be overwritten.
	err := c.Conn.SetReadDeadline(d)
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.deadline = time.Now().Add(c.timeout)
	d := c.deadline
	if c.canceled {
		d = pastDeadline
	}
	err := c.Conn.SetWriteDeadline(d)
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// SetDeadline and friends are no-ops: deadlines belong to the session (see
// the type comment). crypto/tls reaches the connection through them too.
func (c *deadlineConn) SetDeadline(time.Time) error      { return nil }
func (c *deadlineConn) SetReadDeadline(time.Time) error  { return nil }
func (c *deadlineConn) SetWriteDeadline(time.Time) error { return nil }

// bind makes ctx's cancellation abort any I/O promptly until the returned
// stop is called. stop reports whether the connection is still usable (ctx
// did not fire while bound).
func (c *deadlineConn) bind(ctx context.Context) (stop func() bool) {
	stopAfter := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.canceled = true
		c.Conn.SetDeadline(pastDeadline) //nolint:errcheck // best effort: I/O fails anyway
	})
	return func() bool {
		stopAfter()
		c.mu.Lock()
		defer c.mu.Unlock()
		return !c.canceled
	}
}

// replayConn returns a fixed prefix before the connection's own data. After
// our own STARTTLS, a fresh go-smtp Client is created on the TLS connection;
// it insists on reading a 220 greeting first, which the server does not send
// again, so the greeting is replayed locally.
type replayConn struct {
	net.Conn
	prefix []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
