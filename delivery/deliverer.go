package delivery

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/outbox-mta/outbox/delivery/tlspolicy"
)

// Options configure New. The zero value of every field is a usable
// default.
type Options struct {
	// Hostname is the name sent in EHLO; default os.Hostname().
	Hostname string
	// Resolver finds MX hosts for direct routes. Required when any route
	// is direct.
	Resolver Resolver
	// Dialer opens TCP connections; default a net.Dialer (the connect
	// timeout is applied through the context in any case).
	Dialer Dialer
	// Port is the MX port, default 25. Only tests change it.
	Port int

	// Routes maps a lower-case domain to a relay name in Relays, or to
	// Direct. The key "*" is the default route; without it, domains not
	// listed go Direct. These are the starting routes: SetRoutes replaces
	// them, and Deliverer.Routes returns those in effect.
	Routes map[string]string
	// Relays maps a relay name to its servers, tried in order (like the Tcl
	// smtp package's -servers/-ports).
	Relays map[string][]RelayServer

	// MXTLSPolicy is the TLS policy for MX hosts; default TLSOpportunistic.
	MXTLSPolicy TLSPolicy
	// DomainTLS overrides MXTLSPolicy per destination domain (lower-case).
	DomainTLS map[string]TLSPolicy
	// RootCAs verifies MX certificates; nil means the system pool.
	RootCAs *x509.CertPool
	// TLSPolicies decides the TLS policy of each destination domain
	// (MTA-STS, DANE; see package tlspolicy); nil: none, MXTLSPolicy alone.
	TLSPolicies tlspolicy.Source
	// TLSMemory is the downgrade memory; nil: none.
	TLSMemory TLSMemory
	// TLSReporter receives each MX session's TLS outcome (RFC 8460); nil:
	// none.
	TLSReporter TLSReporter

	// Timeouts of each network step; zero fields take DefaultTimeouts.
	Timeouts Timeouts
	// MaxPerDestination bounds concurrent deliveries to one destination
	// (domain, or relay); default 20.
	MaxPerDestination int
	// MaxConns bounds concurrent deliveries overall; default 200.
	MaxConns int
	// IdleTimeout closes a pooled connection unused for that long; default
	// 30s. A negative value disables connection reuse.
	IdleTimeout time.Duration
	// MaxMessagesPerConn is the number of transactions after which a
	// connection is closed rather than reused; default 100.
	MaxMessagesPerConn int
	// MaxRcptsPerTx caps the recipients of one SMTP transaction; default
	// DefaultMaxRcptsPerTx (50, as Postfix). More recipients go in further
	// transactions of the same Deliver call, on the same session when it
	// is still usable.
	MaxRcptsPerTx int

	// Logger receives one line per attempt; default slog.Default().
	Logger *slog.Logger
	// Now is the clock of the pool's idle accounting; default time.Now.
	Now func() time.Time
}

// Deliverer makes outbound SMTP transactions. Create it with New; Deliver
// is safe for concurrent use. Its routes and relays are the only settings
// that change while it runs (SetRoutes); Shutdown closes its pooled
// connections.
type Deliverer struct {
	opts    Options
	cfg     config
	pool    *pool
	limits  *limiter
	routing atomic.Pointer[routing] // routes and relays in effect; see SetRoutes
}

// config holds the Deliverer's settings with defaults applied.
type config struct {
	hostname string
	port     int
	timeouts Timeouts
	maxMsgs  int
	maxRcpts int
	reuse    bool
	log      *slog.Logger
	now      func() time.Time
}

// New returns a Deliverer with opts, defaults applied.
func New(opts Options) *Deliverer {
	c := config{
		hostname: opts.Hostname,
		port:     orInt(opts.Port, DefaultPort),
		timeouts: opts.Timeouts.withDefaults(),
		maxMsgs:  orInt(opts.MaxMessagesPerConn, DefaultMaxMessagesPerConn),
		maxRcpts: orInt(opts.MaxRcptsPerTx, DefaultMaxRcptsPerTx),
		reuse:    opts.IdleTimeout >= 0,
		log:      opts.Logger,
		now:      opts.Now,
	}
	if c.hostname == "" {
		c.hostname, _ = os.Hostname()
		if c.hostname == "" {
			c.hostname = "localhost"
		}
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.log = c.log.With("component", "delivery")
	if c.now == nil {
		c.now = time.Now
	}
	idle := opts.IdleTimeout
	if idle == 0 {
		idle = DefaultIdleTimeout
	}
	perDest := orInt(opts.MaxPerDestination, DefaultMaxPerDestination)
	d := &Deliverer{opts: opts, cfg: c}
	// A QUIT is a courtesy: it must not hold up Shutdown for minutes.
	d.pool = newPool(perDest, idle, min(c.timeouts.Command, 10*time.Second), c.now)
	d.limits = newLimiter(perDest, orInt(opts.MaxConns, DefaultMaxConns))
	d.routing.Store(&routing{routes: opts.Routes, relays: opts.Relays})
	return d
}

// lower is limit, or override when that is set and smaller.
func lower(limit, override int) int {
	if override > 0 && override < limit {
		return override
	}
	return limit
}

func orInt(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

func (d *Deliverer) dialer() Dialer {
	if d.opts.Dialer != nil {
		return d.opts.Dialer
	}
	return &net.Dialer{}
}

// Shutdown closes the pooled idle connections (with QUIT) and waits, until
// ctx ends, for the work that follows transactions (RSET, QUIT) to finish;
// each QUIT is bounded by itself in any case. Call it after every Deliver
// has returned.
func (d *Deliverer) Shutdown(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		d.pool.close()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("delivery: pooled connections still closing: %w", ctx.Err())
	}
}

// Deliver makes one SMTP transaction for env and returns the outcome of
// every recipient, in env.Rcpts order. It never fails as a whole: failures
// are expressed per recipient. It returns as soon as the reply to the final
// dot is read, so that the caller can commit the outcome at once (the
// duplicate window); RSET, QUIT and pooling of the connection happen after.
func (d *Deliverer) Deliver(ctx context.Context, env *Envelope) *Result {
	start := time.Now()
	res := &Result{TLS: "none", Rcpts: make([]RcptResult, len(env.Rcpts))}
	for i, r := range env.Rcpts {
		res.Rcpts[i].Rcpt = r
	}
	defer func() { d.logAttempt(env, res, time.Since(start)) }()
	if len(env.Rcpts) == 0 {
		return res
	}

	domain := strings.ToLower(strings.TrimSuffix(env.Domain, "."))
	// Read before the routes: a session opened on routes that SetRoutes
	// has since replaced carries an old generation and is not pooled.
	gen := d.pool.generation()
	dest, err := d.destination(domain)
	if err != nil {
		d.cfg.log.Error("no usable route: check the configuration", "msgid", env.MsgID, "domain", env.Domain, "err", err)
		setAll(res, Deferred, Reply{Enhanced: "4.3.5", Text: err.Error()})
		return res
	}
	release, err := d.limits.acquire(ctx, dest.key)
	if err != nil {
		setAll(res, Deferred, localReply(ctx, "waiting for a connection slot", err))
		return res
	}
	defer release()

	// One attempt may leave recipients out: the server's recipient limit
	// was reached and the session broke before they could be sent in
	// another transaction. They are sent at once on another session,
	// never left to the queue's back-off.
	for off := 0; off < len(env.Rcpts); {
		part := res.part(off, len(env.Rcpts))
		d.attempt(ctx, domain, dest, gen, env.part(off, len(env.Rcpts)), part)
		res.merge(part)
		n := tried(part)
		if n == 0 {
			break // cannot happen: an attempt settles at least one recipient
		}
		off += n
	}
	for i := range res.Rcpts {
		if res.Rcpts[i].Status == pending {
			res.Rcpts[i].Status, res.Rcpts[i].Reply = Deferred, Reply{Enhanced: "4.3.0", Text: "not attempted"}
		}
	}
	return res
}

// attempt sends env over a pooled session of dest or a new one, and records
// the outcome in res. Recipients left without a status were not tried (see
// run).
func (d *Deliverer) attempt(ctx context.Context, domain string, dest dest, gen uint64, env *Envelope, res *Result) {
	// A REQUIRETLS message needs a session opened under the current
	// policy: a pooled one may predate it.
	if d.cfg.reuse && !env.RequireTLS {
		for s := d.pool.get(dest.key); s != nil; s = d.pool.get(dest.key) {
			if d.run(ctx, s, env, res, true) != txRetryFresh {
				return
			}
		}
	}

	targets, r, st := d.targets(ctx, domain, dest)
	if st == 0 {
		targets, r, st = d.secure(ctx, domain, dest, env, targets, res)
	}
	if st != 0 {
		setAll(res, st, r)
		return
	}
	var last *stepError
	for _, t := range targets {
		if ctx.Err() != nil {
			break
		}
		s, err := d.open(ctx, t, false)
		if se := asStepError(err); se != nil && se.retryPlain {
			d.cfg.log.Warn("TLS handshake failed, retrying in plain text (opportunistic TLS)", "msgid", env.MsgID, "domain", env.Domain, "host", t.name, "addr", t.addr, "err", se.reply.String())
			s, err = d.open(ctx, t, true)
		}
		if err != nil {
			last = asStepError(err)
			res.Host = hostLabel(t, nil)
			if last.outcome != nil {
				res.TLSOutcome = *last.outcome
				if dest.relay == nil {
					d.reportTLS(domain, t, "", *last.outcome)
				}
			}
			lvl := slog.LevelInfo
			if last.step == "auth" {
				// Our credentials or configuration, not the remote's fault.
				lvl = slog.LevelError
			}
			d.cfg.log.Log(ctx, lvl, "host failed", "msgid", env.MsgID, "domain", env.Domain, "host", t.name, "addr", t.addr, "step", last.step, "err", last.reply.String())
			continue
		}
		s.key, s.gen = dest.key, gen
		if dest.relay == nil {
			d.rememberTLS(ctx, domain, s.outcome)
			d.reportTLS(domain, t, s.dc.LocalAddr().String(), s.outcome)
		}
		d.run(ctx, s, env, res, false)
		return
	}
	if ctx.Err() != nil {
		setAll(res, Deferred, Reply{Enhanced: "4.4.7", Text: "attempt canceled: " + context.Cause(ctx).Error()})
		return
	}
	// No host could take the message now (RFC 5321 §4.5.4.1): retry later.
	res.DestinationDown = true
	r = Reply{Enhanced: "4.4.1", Text: "no host could be reached"}
	if last != nil {
		r = last.reply
		switch {
		case r.Code/100 == 4:
		case r.Code == 0 && r.Enhanced == "":
			r.Enhanced = "4.4.1"
		case r.Code != 0:
			// A 5xx greeting (or EHLO, AUTH reply) of one host is still a
			// temporary failure of the destination as a whole.
			r = Reply{Enhanced: "4.4.1", Text: last.Error()}
		}
	}
	setAll(res, Deferred, r)
}

// asStepError returns err as a *stepError (open's only kind of error).
func asStepError(err error) *stepError {
	if err == nil {
		return nil
	}
	var se *stepError
	if !errors.As(err, &se) {
		se = &stepError{step: "session", reply: Reply{Text: err.Error()}}
	}
	return se
}

// run makes the transactions of env on s, at most MaxRcptsPerTx recipients
// each, one after the other without waiting (the RSET that ends one that
// did not end with DATA goes with the next one's MAIL), and hands s to the
// pool, or to the background for a last RSET or QUIT (finish). Recipients it could not send
// because the session broke keep no status. It returns txRetryFresh only
// when the first transaction found a pooled session dead, with nothing
// recorded.
func (d *Deliverer) run(ctx context.Context, s *session, env *Envelope, res *Result, pooled bool) txOutcome {
	stop := s.dc.bind(ctx)
	out := txDone
	for off := 0; off < len(env.Rcpts) && (out == txDone || out == txHealthy); {
		end := min(off+lower(d.cfg.maxRcpts, env.MaxRcptsPerTx), len(env.Rcpts))
		part := res.part(off, end)
		out = d.transact(ctx, s, env.part(off, end), part, pooled && off == 0)
		if out == txRetryFresh {
			if off == 0 {
				stop()
				s.c.Close()
				return out
			}
			out = txBroken
			break
		}
		// A transaction that did not end with the final dot may have left
		// the server in one (MAIL accepted): RSET before the next MAIL.
		s.needReset = s.needReset || out == txHealthy
		res.merge(part)
		res.Host, res.TLS, res.TLSOutcome = s.host, s.tls, s.outcome
		s.msgs++
		if dsn, _ := s.c.Extension("DSN"); dsn {
			for i := range part.Rcpts {
				part.Rcpts[i].NextHopDSN = part.Rcpts[i].Status == Delivered
			}
		}
		off += tried(part)
	}
	usable := stop()
	if (out != txHealthy && out != txDone) || !usable {
		// Broken or in an unknown state: no RSET, no QUIT, which could only
		// wait for a reply that will not come.
		s.c.Close()
		return out
	}
	reuse := d.cfg.reuse && s.msgs < lower(d.cfg.maxMsgs, env.MaxMsgsPerConn)
	if reuse && !s.needReset && d.pool.put(s) {
		return out // the common case: nothing to say before the next MAIL
	}
	if !d.pool.spawn(func() { d.finish(s, reuse) }) {
		s.c.Close()
	}
	return out
}

// finish parks a session left in a transaction in the pool once an RSET
// has ended it: a server that does not answer it is never reused. A
// session that is not to be reused gets QUIT.
func (d *Deliverer) finish(s *session, reuse bool) {
	if reuse {
		if s.needReset {
			s.dc.setPhase(d.cfg.timeouts.Command)
			s.w.cmd("RSET")
			if r, err := s.w.reply(); err != nil || r.Code/100 != 2 {
				s.c.Close()
				return
			}
			s.needReset = false
		}
		if d.pool.put(s) {
			return
		}
	}
	s.quit(d.pool.quitIn)
}

// dest is where a domain's mail goes.
type dest struct {
	key   string        // pool and limiter key
	relay []RelayServer // nil for direct
}

// destination finds the route of a (lower-case) domain.
func (d *Deliverer) destination(domain string) (dest, error) {
	rt := d.routing.Load()
	name, ok := rt.routes[domain]
	if !ok {
		name, ok = rt.routes["*"]
	}
	if !ok || name == "" || name == Direct {
		return dest{key: "direct:" + domain}, nil
	}
	servers := rt.relays[name]
	if len(servers) == 0 {
		return dest{}, &RouteError{Domain: domain, Relay: name}
	}
	return dest{key: "relay:" + name, relay: servers}, nil
}

// RouteError reports a route naming a relay that is not configured (or has
// no servers). Config validation should make it impossible.
type RouteError struct{ Domain, Relay string }

func (e *RouteError) Error() string {
	return "delivery: route for " + e.Domain + " names relay " + e.Relay + ", which has no servers"
}

// targets lists the addresses to try in order. When there is nothing to try
// it returns the status (Bounced or Deferred) and reply of every recipient.
func (d *Deliverer) targets(ctx context.Context, domain string, dst dest) ([]target, Reply, Status) {
	if dst.relay != nil {
		var ts []target
		for _, srv := range dst.relay {
			t := target{
				name:       srv.Host,
				addr:       net.JoinHostPort(srv.Host, strconv.Itoa(srv.port())),
				implicit:   srv.TLSMode == TLSModeImplicit,
				policy:     srv.TLSPolicy,
				rootCAs:    srv.RootCAs,
				clientCert: srv.ClientCert,
				user:       srv.Username,
				pass:       srv.Password,
				clearAuth:  srv.TLSMode == TLSModeNone,
			}
			switch {
			case srv.TLSMode == TLSModeNone:
				t.policy = TLSNone
			case t.policy == TLSDefault:
				t.policy = TLSVerify
			case t.implicit && t.policy < TLSRequired:
				t.policy = TLSRequired // implicit TLS is always encrypted
			}
			ts = append(ts, t)
		}
		return ts, Reply{}, 0
	}

	if d.opts.Resolver == nil {
		return nil, Reply{Enhanced: "4.3.5", Text: "no MX resolver configured"}, Deferred
	}
	hosts, err := d.opts.Resolver.Lookup(ctx, domain)
	if err != nil {
		// No server replied: the reply keeps Code 0, so bounce notices
		// report a local diagnostic rather than an SMTP reply nobody sent.
		r, perm := lookupReply(err)
		if perm {
			return nil, r, Bounced
		}
		return nil, r, Deferred
	}
	policy := d.opts.MXTLSPolicy
	if p, ok := d.opts.DomainTLS[domain]; ok {
		policy = p
	}
	if policy == TLSDefault {
		policy = TLSOpportunistic
	}
	var ts []target
	for _, h := range hosts {
		for _, a := range h.Addrs {
			ts = append(ts, target{
				name:    strings.TrimSuffix(h.Name, "."),
				addr:    net.JoinHostPort(a.Unmap().String(), strconv.Itoa(d.cfg.port)),
				policy:  policy,
				rootCAs: d.opts.RootCAs,
			})
		}
	}
	if len(ts) == 0 {
		return nil, Reply{Enhanced: "4.4.3", Text: "no address for any MX host of " + domain}, Deferred
	}
	return ts, Reply{}, 0
}

// setAll records st and r for every recipient of res.
func setAll(res *Result, st Status, r Reply) {
	for i := range res.Rcpts {
		res.Rcpts[i].Status, res.Rcpts[i].Reply, res.Rcpts[i].AtRcpt = st, r, false
	}
}

// setRcpts records st and r for the recipients of res at the indexes idx.
func setRcpts(res *Result, idx []int, st Status, r Reply) {
	for _, i := range idx {
		res.Rcpts[i].Status, res.Rcpts[i].Reply, res.Rcpts[i].AtRcpt = st, r, false
	}
}
