package submission

import (
	"net"
	"sync"
)

// replyBuffer holds what the server writes to a client until the server is
// about to wait for the client: go-smtp writes (and flushes) every reply
// line on its own, so a pipelined MAIL, RCPT, DATA group cost three
// writes, and an EHLO reply one per line.
//
// RFC 2920 §3.2 (7) asks a server to send its pending replies whenever its
// input is used up; here they go out before every read of the connection,
// which go-smtp (and the framer, and crypto/tls) make only when what they
// have read is used up, and at Close. So a client never waits for a reply
// held back, pipelining or not, and a group of replies is one write.
type replyBuffer struct {
	mu  sync.Mutex
	buf []byte
}

// flushAt is the size at which a write goes out at once: replies are small,
// and only a TLS handshake's records come near it.
const flushAt = 16 << 10

// write appends p, writing everything to c once flushAt is reached.
func (b *replyBuffer) write(c net.Conn, p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) >= flushAt {
		if err := b.flushLocked(c); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// flush writes what is held to c.
func (b *replyBuffer) flush(c net.Conn) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked(c)
}

// flushBeforeClose writes what is held unless a write is already under
// way in another goroutine: a close must not wait for a client that does
// not read (it is what unblocks that write).
func (b *replyBuffer) flushBeforeClose(c net.Conn) {
	if !b.mu.TryLock() {
		return
	}
	defer b.mu.Unlock()
	_ = b.flushLocked(c)
}

func (b *replyBuffer) flushLocked(c net.Conn) error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := c.Write(b.buf)
	if cap(b.buf) > flushAt {
		b.buf = nil // do not keep a handshake-sized buffer per idle client
	} else {
		b.buf = b.buf[:0]
	}
	return err
}
