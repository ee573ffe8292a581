package submission

import (
	"crypto/tls"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// limiter admits client connections across every listener of a Server, as
// Postfix's anvil does: a cap on all connections, a part of it reserved for
// trusted networks and authenticated clients, and per untrusted address a
// cap on simultaneous connections and on new connections per window, so
// that one address cannot lock everyone else out. go-smtp has no such
// limits, and merely not calling Accept would leave clients hanging in the
// kernel's backlog; instead a refused client is accepted, told "421 4.7.0"
// (RFC 5321 §3.8) and closed.
type limiter struct {
	lim      connLimits
	hostname string
	log      *slog.Logger
	observer Observer // may be nil
	trusted  func(netip.Addr) bool
	now      func() time.Time

	mu    sync.Mutex
	n     int // open connections
	anon  int // open untrusted connections not authenticated (yet)
	perIP map[netip.Addr]int
	rate  map[netip.Addr]rateCount
}

// connLimits are the admission limits; see the Options of the same names.
type connLimits struct {
	max, perClient, reserved, rate int
	rateWindow, preAuth, idle      time.Duration
}

type rateCount struct {
	n     int
	start time.Time
}

// rejectTimeout bounds the work spent on a client that is turned away.
const rejectTimeout = 5 * time.Second

func newLimiter(o *Options, trusted func(netip.Addr) bool, log *slog.Logger) *limiter {
	return &limiter{
		lim: connLimits{max: o.MaxConnections, perClient: o.MaxConnectionsPerClient,
			reserved: o.ReservedConnections, rate: o.ConnectionRate,
			rateWindow: o.ConnectionRateWindow, preAuth: o.PreAuthTimeout, idle: o.ReadTimeout},
		hostname: o.Hostname, log: log, observer: o.Observer, trusted: trusted, now: o.Now,
		perIP: make(map[netip.Addr]int), rate: make(map[netip.Addr]rateCount),
	}
}

// admit takes a slot for a client at ip, or returns why not.
func (lim *limiter) admit(ip netip.Addr, trusted bool) (refused string) {
	lim.mu.Lock()
	defer lim.mu.Unlock()
	if lim.n >= lim.lim.max {
		return "too many connections"
	}
	if !trusted {
		if !lim.rateOK(ip) {
			return "too many connections from your address in a short time"
		}
		if lim.anon >= lim.lim.max-lim.lim.reserved {
			return "too many connections from unauthenticated clients"
		}
		if lim.perIP[ip] >= lim.lim.perClient {
			return "too many connections from your address"
		}
		lim.anon++
		lim.perIP[ip]++
	}
	lim.n++
	if lim.observer != nil {
		lim.observer.ConnOpened()
	}
	return ""
}

// rateOK counts a new connection from ip in its window; false once the
// window holds more than lim.rate. The caller holds mu.
func (lim *limiter) rateOK(ip netip.Addr) bool {
	now := lim.now()
	if len(lim.rate) >= sweepAt {
		for a, r := range lim.rate {
			if now.Sub(r.start) >= lim.lim.rateWindow {
				delete(lim.rate, a)
			}
		}
	}
	r, ok := lim.rate[ip]
	if !ok || now.Sub(r.start) >= lim.lim.rateWindow {
		r = rateCount{start: now}
	}
	r.n++
	lim.rate[ip] = r
	return r.n <= lim.lim.rate
}

// release gives back the slot of a connection admitted with the same ip
// and trusted; anon says whether it still counted as unauthenticated.
func (lim *limiter) release(ip netip.Addr, trusted, anon bool) {
	lim.mu.Lock()
	defer lim.mu.Unlock()
	lim.n--
	if !trusted {
		if anon {
			lim.anon--
		}
		if lim.perIP[ip]--; lim.perIP[ip] <= 0 {
			delete(lim.perIP, ip)
		}
	}
	if lim.observer != nil {
		lim.observer.ConnClosed()
	}
}

// promote moves an untrusted connection out of the unauthenticated share:
// its client has authenticated.
func (lim *limiter) promote() {
	lim.mu.Lock()
	defer lim.mu.Unlock()
	lim.anon--
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
		ip := remoteIP(c)
		trusted := l.lim.trusted(ip)
		if why := l.lim.admit(ip, trusted); why != "" {
			// Off the accept loop: a slow client must not stall everyone else.
			go l.reject(c, why)
			continue
		}
		return newClientConn(c, l.lim, ip, trusted), nil
	}
}

func (l *limitListener) reject(c net.Conn, why string) {
	l.lim.log.Info("connection rejected", "client", c.RemoteAddr().String(), "reason", why)
	if l.rejectTLS != nil {
		c = tls.Server(c, l.rejectTLS)
	}
	_ = c.SetDeadline(time.Now().Add(rejectTimeout))
	_, _ = c.Write([]byte("421 4.7.0 " + l.lim.hostname + " " + why + ", try again later\r\n"))
	_ = c.Close()
}

// remoteIP is c's peer address, unmapped; the zero Addr if it has none
// (not TCP).
func remoteIP(c net.Conn) netip.Addr {
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
