package submission

import (
	"crypto/tls"
	"log/slog"
	"net"
	"sync"
	"time"
)

// limiter caps simultaneous connections across every listener of a Server.
// go-smtp has no such limit, and merely not calling Accept would leave
// clients hanging in the kernel's backlog; instead a client over the limit is
// accepted, told "421 4.7.0 too many connections" (RFC 5321 §3.8) and closed.
type limiter struct {
	max      int
	hostname string
	log      *slog.Logger
	observer ConnObserver // may be nil

	mu sync.Mutex
	n  int
}

// rejectTimeout bounds the work spent on a client that is turned away.
const rejectTimeout = 5 * time.Second

func (lim *limiter) acquire() bool {
	lim.mu.Lock()
	defer lim.mu.Unlock()
	if lim.n >= lim.max {
		return false
	}
	lim.n++
	if lim.observer != nil {
		lim.observer.ConnOpened()
	}
	return true
}

func (lim *limiter) release() {
	lim.mu.Lock()
	defer lim.mu.Unlock()
	lim.n--
	if lim.observer != nil {
		lim.observer.ConnClosed()
	}
}

// wrap returns l limited by lim. rejectTLS is the implicit-TLS config when
// l's connections are about to be wrapped in TLS, so that the 421 goes out
// inside a TLS session the client can read.
func (lim *limiter) wrap(l net.Listener, rejectTLS *tls.Config) net.Listener {
	return &limitListener{Listener: l, lim: lim, rejectTLS: rejectTLS}
}

type limitListener struct {
	net.Listener
	lim       *limiter
	rejectTLS *tls.Config
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.lim.acquire() {
			return &limitConn{Conn: c, release: sync.OnceFunc(l.lim.release)}, nil
		}
		// Off the accept loop: a slow client must not stall everyone else.
		go l.reject(c)
	}
}

func (l *limitListener) reject(c net.Conn) {
	l.lim.log.Info("connection rejected", "client", c.RemoteAddr().String(),
		"reason", "too many connections")
	if l.rejectTLS != nil {
		c = tls.Server(c, l.rejectTLS)
	}
	_ = c.SetDeadline(time.Now().Add(rejectTimeout))
	_, _ = c.Write([]byte("421 4.7.0 " + l.lim.hostname + " too many connections, try again later\r\n"))
	_ = c.Close()
}

// limitConn gives its slot back when closed; go-smtp closes a connection
// more than once (and STARTTLS closes it through the tls.Conn), hence Once.
type limitConn struct {
	net.Conn
	release func()
}

func (c *limitConn) Close() error {
	c.release()
	return c.Conn.Close()
}
