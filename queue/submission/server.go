package submission

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"

	"github.com/emersion/go-smtp"
)

// ErrServerClosed is returned by Serve and ServeTLS after Shutdown or Close.
var ErrServerClosed = errors.New("submission: server closed")

// Server is the SMTP submission listener. Create it with New, run Serve
// (plain with STARTTLS) and/or ServeTLS (implicit TLS, port 465) on as many
// listeners as needed, and stop it with Shutdown.
type Server struct {
	opts     Options
	log      *slog.Logger
	srv      *smtp.Server
	limiter  *limiter
	throttle *throttle

	// ctx is the parent of every Enqueue; cancelled when the server is
	// closed so that no spool call outlives Shutdown.
	ctx    context.Context
	cancel context.CancelFunc
	data   sync.WaitGroup // Data calls in progress
	// readers holds the *bufio.Reader Data reads a message through, one
	// per message in progress, reused from message to message.
	readers sync.Pool
	// framerBufs holds the buffers of closed connections' framers.
	framerBufs sync.Pool

	mu        sync.Mutex
	closing   bool // no new connections or transactions
	closed    bool // no new Data calls either
	listeners []net.Listener
	inTx      int           // sessions between MAIL and the end of the transaction
	txDone    chan struct{} // closed (and replaced) whenever inTx drops to zero
}

// New checks opts and builds a Server.
func New(opts Options) (*Server, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	log := opts.Logger.With("component", "submission")
	s := &Server{
		opts:     opts,
		log:      log,
		throttle: newThrottle(opts.AuthMaxFailures, opts.AuthFailureWindow, opts.Now),
		txDone:   make(chan struct{}),
	}
	s.limiter = newLimiter(&opts, s.trusted, log)
	s.ctx, s.cancel = context.WithCancel(context.Background())

	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = opts.Hostname
	srv.MaxMessageBytes = opts.MaxMessageSize
	srv.MaxRecipients = opts.MaxRecipients
	srv.ReadTimeout = opts.ReadTimeout
	srv.WriteTimeout = opts.WriteTimeout
	srv.TLSConfig = opts.TLSConfig
	srv.EnableSMTPUTF8 = true // 8BITMIME is always advertised by go-smtp
	// RFC 3461: the queue keeps RET, ENVID, NOTIFY and ORCPT, honours them
	// in its notices and passes them to next hops that offer DSN.
	srv.EnableDSN = true
	// RFC 8689: advertised on TLS sessions only; kept with the message
	// and honoured by delivery.
	srv.EnableREQUIRETLS = true
	// go-smtp can only allow or refuse plaintext AUTH server-wide; the
	// session decides per client (TLS or trusted network) in
	// AuthMechanisms and Auth.
	srv.AllowInsecureAuth = true
	srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	s.srv = srv
	return s, nil
}

// Serve accepts plain SMTP connections on l, offering STARTTLS when
// Options.TLSConfig is set. It returns ErrServerClosed after Shutdown or Close.
func (s *Server) Serve(l net.Listener) error {
	return s.serve(s.limiter.wrap(l, nil))
}

// ServeTLS accepts implicit-TLS connections (RFC 8314 submissions, port
// 465) on l, which must be a plain listener: ServeTLS wraps it with
// tls.NewListener using Options.TLSConfig.
func (s *Server) ServeTLS(l net.Listener) error {
	if s.opts.TLSConfig == nil {
		return errors.New("submission: ServeTLS needs Options.TLSConfig")
	}
	return s.serve(tls.NewListener(s.limiter.wrap(l, s.opts.TLSConfig), s.opts.TLSConfig))
}

func (s *Server) serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		_ = l.Close()
		return ErrServerClosed
	}
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()

	err := s.srv.Serve(l)
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		return ErrServerClosed
	}
	return err
}

// Shutdown stops accepting connections, lets transactions in progress (MAIL
// through the reply to DATA) finish until ctx is done, then closes every
// connection and waits for Data calls to return. Idle connections are closed
// without waiting (go-smtp's own Shutdown would wait for them forever) and
// new transactions get 421 meanwhile. It returns ctx's error if it had to
// cut transactions short.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	ls := s.listeners
	s.mu.Unlock()
	for _, l := range ls {
		_ = l.Close()
	}

	var err error
	for {
		s.mu.Lock()
		n, done := s.inTx, s.txDone
		s.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-done:
			continue
		case <-ctx.Done():
			err = ctx.Err()
		}
		break
	}
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close closes all listeners and connections at once, aborting transactions
// (their clients never got a 250, so nothing is lost), and waits for Data
// calls to return.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closing, s.closed = true, true
	s.mu.Unlock()
	s.cancel()
	err := s.srv.Close()
	if errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		err = nil // closed before, or listeners already closed by Shutdown
	}
	s.data.Wait()
	return err
}

// beginTx registers a transaction; false when shutting down.
func (s *Server) beginTx() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.inTx++
	return true
}

func (s *Server) endTx() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inTx--
	if s.inTx == 0 {
		close(s.txDone)
		s.txDone = make(chan struct{})
	}
}

// beginData registers a Data call; false once the server is closed. The
// mutex orders every data.Add before Close's data.Wait.
func (s *Server) beginData() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.data.Add(1)
	return true
}

// trusted reports whether ip is in a trusted network.
func (s *Server) trusted(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range s.opts.Trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// newSession is called by go-smtp at the first EHLO or HELO of a
// connection and again after STARTTLS.
func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	ip := remoteIP(c.Conn())
	sess := &session{
		srv:     s,
		conn:    c,
		netConn: c.Conn(),
		ip:      ip,
		client:  c.Conn().RemoteAddr().String(),
		trusted: s.trusted(ip),
		cc:      connOf(c.Conn()),
	}
	if st, ok := c.TLSConnectionState(); ok {
		sess.tls = tls.VersionName(st.Version) + " " + tls.CipherSuiteName(st.CipherSuite)
	}
	fr, err := s.frame(c, sess.trusted, sess.cc)
	if errors.Is(err, errPipelinedGreeting) {
		return nil, sess.reject("ehlo", replyPipelinedGreeting)
	}
	if err != nil {
		s.log.Error("cannot read the client's stream", "client", sess.client, "error", err)
		return nil, replyStorage
	}
	sess.fr = fr
	return sess, nil
}

// errPipelinedGreeting: the client sent more after EHLO without waiting
// for the reply, which RFC 2920 §3.1 forbids.
var errPipelinedGreeting = errors.New("submission: commands pipelined after EHLO")

// maxCommandLine bounds a command line with its CRLF: RFC 5321
// §4.5.3.1.4 allows 512 octets, doubled for extensions' parameters as
// go-smtp does, with room for AUTH PLAIN's initial response.
const maxCommandLine = 2000

// frame puts a framer under go-smtp's reader on c (see gosmtp.go). It must
// run before go-smtp has buffered anything past the greeting command, or
// the framer would not know where in the protocol the stream is.
func (s *Server) frame(c *smtp.Conn, trusted bool, cc *clientConn) (*framer, error) {
	h, err := hooksOf(c)
	if err != nil {
		return nil, err
	}
	if h.text.R.Buffered() > 0 {
		return nil, errPipelinedGreeting
	}
	junk := s.opts.MaxJunkCommands
	if trusted {
		junk = 0
	}
	fr := newFramer(h.raw, h.lineLimit, s.opts.Hostname, maxCommandLine, junk, s.takeFramerBufs())
	if cc != nil {
		d := s.opts.DataTimeout
		fr.closing = cc.lingerAtClose
		fr.transfer = func(begin bool) {
			if begin {
				cc.beginTransfer(d)
			} else {
				cc.endTransfer()
			}
		}
	}
	h.setRaw(fr)
	*h.lineLimit = 0
	// go-smtp flushes every reply, so its writer holds nothing here: its
	// buffer is reused rather than a new one made per session.
	h.text.W.Reset(&ehloWriter{w: c.Conn(), keywords: s.ehloKeywords})
	return fr, nil
}

// ehloKeywords are the keywords the EHLO reply gains (ehlo.go).
func (s *Server) ehloKeywords() []string {
	return ehloKeywords(s.opts.Now(), s.opts.MaxHold)
}
