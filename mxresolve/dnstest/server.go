// Package dnstest runs a small DNS server on loopback for tests: it serves a
// table of records over UDP and TCP on one port, acting as a recursive
// resolver would (CNAME chains answered in full, NXDOMAIN versus NODATA
// told apart, each with the SOA of its enclosing zone in the authority
// section when the table holds one, as RFC 2308 §3 asks), and can be told
// to misbehave per name: SERVFAIL, REFUSED, NXDOMAIN, no answer at all, or
// a truncated UDP answer.
//
// It imports only miekg/dns and the standard library, so any package's
// tests (mxresolve, delivery, integration) can point a resolver at it:
//
//	s := &dnstest.Server{Zone: dnstest.Zone(t,
//		"example.test. MX 10 mx1.example.test.",
//		"mx1.example.test. A 127.0.0.2",
//	)}
//	s.Start(t)
//	r := &mxresolve.Resolver{Server: s.Addr()}
package dnstest

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Behavior is how the server treats queries for one name.
type Behavior int

// Behaviors. The zero value answers from the zone.
const (
	Answer   Behavior = iota // answer from the zone (default)
	ServFail                 // RCODE SERVFAIL
	Refused                  // RCODE REFUSED
	NXDomain                 // RCODE NXDOMAIN, whatever the zone holds
	Drop                     // never answer: the client times out
	Truncate                 // over UDP, an empty answer with TC set; over TCP, the answer
	// CNAMEOnly answers the CNAME at this name without following it, as
	// an authoritative server for another zone would.
	CNAMEOnly
)

// Query is one question the server received.
type Query struct {
	Name string // lower case, fully qualified
	Type uint16 // dns.TypeMX, dns.TypeA...
	Net  string // "udp" or "tcp"
}

// Server is a test DNS server. Set Zone and Behaviors, then call Start; both
// may also be changed while it runs, through Add and Set.
type Server struct {
	// Zone holds the records served, by lower-case fully qualified owner
	// name. Zone builds one from text.
	Zone map[string][]dns.RR
	// Behaviors overrides the answer for some names (any case, with or
	// without the final dot). Names along a CNAME chain count too.
	Behaviors map[string]Behavior
	// AD makes the server act as a DNSSEC-validating resolver whose zone is
	// signed: answers to queries that ask for it (AD or DO set, RFC 6840
	// §5.7) carry the AD bit, except for the names in Insecure (any case,
	// with or without the final dot), which stand for unsigned data.
	AD       bool
	Insecure map[string]bool

	mu      sync.Mutex
	queries []Query
	held    map[string]chan struct{} // by canonical name; closed on release
	addr    string
}

// Zone parses records in zone-file text form ("owner TTL? class? TYPE
// data") into a Zone map, failing the test on a syntax error.
func Zone(t testing.TB, records ...string) map[string][]dns.RR {
	t.Helper()
	z := make(map[string][]dns.RR, len(records))
	for _, s := range records {
		rr, err := dns.NewRR(s)
		if err != nil || rr == nil {
			t.Fatalf("dnstest: bad record %q: %v", s, err)
		}
		name := canonical(rr.Header().Name)
		z[name] = append(z[name], rr)
	}
	return z
}

// Start listens on 127.0.0.1 (UDP and TCP, same port) and serves until the
// test ends.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	if s.Zone == nil {
		s.Zone = make(map[string][]dns.RR)
	}
	if s.Behaviors == nil {
		s.Behaviors = make(map[string]Behavior)
	}
	behaviors := make(map[string]Behavior, len(s.Behaviors))
	for name, b := range s.Behaviors {
		behaviors[canonical(name)] = b
	}
	s.Behaviors = behaviors
	s.mu.Unlock()

	pc, l, err := listenPair()
	if err != nil {
		t.Fatalf("dnstest: listen: %v", err)
	}
	s.addr = pc.LocalAddr().String()

	// A dropped TCP query leaves its connection waiting for the next
	// one; a short read timeout ends it soon after the client gives up.
	udp := &dns.Server{PacketConn: pc, Handler: s, ReadTimeout: time.Second}
	tcp := &dns.Server{Listener: l, Handler: s, ReadTimeout: time.Second}
	for _, srv := range []*dns.Server{udp, tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe() //nolint:errcheck // returns only at Shutdown
		<-started
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.ShutdownContext(ctx); err != nil {
				t.Errorf("dnstest: shutdown: %v", err)
			}
		})
	}
}

// listenPair binds UDP on an ephemeral port, then TCP on the same port,
// retrying when another process holds that TCP port.
func listenPair() (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		l, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, l, nil
		}
		pc.Close()
		lastErr = err
	}
	return nil, nil, errors.Join(errors.New("no port free for both UDP and TCP"), lastErr)
}

// Addr is the server's "host:port", for a resolver's Server field.
func (s *Server) Addr() string { return s.addr }

// Add parses and adds records while the server runs.
func (s *Server) Add(t testing.TB, records ...string) {
	t.Helper()
	z := Zone(t, records...)
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, rrs := range z {
		s.Zone[name] = append(s.Zone[name], rrs...)
	}
}

// Set changes the behavior for name while the server runs.
func (s *Server) Set(name string, b Behavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Behaviors[canonical(name)] = b
}

// Hold makes queries for name wait, recorded but unanswered, until release
// is called; then they, and later ones, are answered as usual. It lets a
// test have queries in flight at a moment of its choosing. The test's end
// releases them too.
func (s *Server) Hold(t testing.TB, name string) (release func()) {
	ch := make(chan struct{})
	name = canonical(name)
	s.mu.Lock()
	if s.held == nil {
		s.held = make(map[string]chan struct{})
	}
	s.held[name] = ch
	s.mu.Unlock()
	var once sync.Once
	release = func() {
		once.Do(func() {
			s.mu.Lock()
			if s.held[name] == ch {
				delete(s.held, name)
			}
			s.mu.Unlock()
			close(ch)
		})
	}
	t.Cleanup(release)
	return release
}

// Queries returns the questions received so far, in order of arrival.
func (s *Server) Queries() []Query {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Query(nil), s.queries...)
}

// Count returns how many questions for name and qtype arrived, over both
// transports.
func (s *Server) Count(name string, qtype uint16) int {
	name = canonical(name)
	n := 0
	for _, q := range s.Queries() {
		if q.Name == name && q.Type == qtype {
			n++
		}
	}
	return n
}

func canonical(name string) string { return strings.ToLower(dns.Fqdn(name)) }
