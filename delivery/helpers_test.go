package delivery

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery/smtptest"
)

const testBody = "From: a@src.test\r\nTo: b@example.test\r\nSubject: hi\r\n\r\nhello\r\n.leading dot\r\n"

// fakeResolver answers Lookup from a table and counts the lookups.
type fakeResolver struct {
	hosts map[string][]Host
	errs  map[string]error
}

func (r *fakeResolver) Lookup(_ context.Context, domain string) ([]Host, error) {
	if err, ok := r.errs[domain]; ok {
		return nil, err
	}
	return r.hosts[domain], nil
}

// mapDialer redirects "addr:port" pairs to the test servers' real
// addresses; anything unmapped is dialed as is (and is refused on a closed
// port). It counts dials.
type mapDialer struct {
	mu    sync.Mutex
	to    map[string]string
	dials []string
}

func (m *mapDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	m.mu.Lock()
	m.dials = append(m.dials, addr)
	real, ok := m.to[addr]
	m.mu.Unlock()
	if !ok {
		real = addr
	}
	var d net.Dialer
	return d.DialContext(ctx, network, real)
}

func (m *mapDialer) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.dials)
}

// closedAddr returns an address on ip where nothing listens.
func closedAddr(t *testing.T, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

func host(name string, pref uint16, addrs ...string) Host {
	h := Host{Name: name, Pref: pref}
	for _, a := range addrs {
		h.Addrs = append(h.Addrs, netip.MustParseAddr(a))
	}
	return h
}

func envelope(domain string, atLeastOne bool, rcpts ...string) *Envelope {
	return &Envelope{
		MsgID:      "msg1",
		From:       "sender@src.test",
		Domain:     domain,
		Rcpts:      rcpts,
		AtLeastOne: atLeastOne,
		Body:       func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(testBody)), nil },
		Size:       int64(len(testBody)),
	}
}

// newTestDeliverer builds a Deliverer with short timeouts, a test logger and
// the given resolver and dialer; Close runs at cleanup.
func newTestDeliverer(t *testing.T, r Resolver, dl Dialer, edits ...func(*Options)) *Deliverer {
	t.Helper()
	opts := Options{
		Hostname: "out.test",
		Resolver: r,
		Dialer:   dl,
		Timeouts: Timeouts{Connect: 2 * time.Second, TLSHandshake: 2 * time.Second, Greeting: 2 * time.Second,
			Command: 2 * time.Second, Mail: 2 * time.Second, Rcpt: 2 * time.Second, Data: 2 * time.Second,
			DataBlock: 2 * time.Second, FinalDot: 2 * time.Second},
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, edit := range edits {
		edit(&opts)
	}
	d := New(opts)
	t.Cleanup(func() { d.Shutdown(context.Background()) })
	return d
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// testPKI is a CA generated for the test and a certificate it signed for
// the given names.
type testPKI struct {
	pool *x509.CertPool
	cert tls.Certificate
}

func newPKI(t *testing.T, names ...string) *testPKI {
	t.Helper()
	ca := smtptest.NewCA(t)
	return &testPKI{pool: ca.Pool, cert: ca.Issue(t, names...)}
}

func (p *testPKI) serverConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.cert}}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // generous: CI machines are slow under -race
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// statuses is a compact view of a Result for comparisons: "rcpt=status code".
func statuses(res *Result) []string {
	var out []string
	for _, r := range res.Rcpts {
		s := r.Rcpt + "=" + r.Status.String()
		if r.Reply.Code != 0 {
			s += " " + itoa3(r.Reply.Code)
		}
		out = append(out, s)
	}
	return out
}

func itoa3(n int) string {
	return string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)})
}

func bodyEqual(t *testing.T, got []byte) {
	t.Helper()
	if !bytes.Equal(got, []byte(testBody)) {
		t.Errorf("body = %q, want %q", got, testBody)
	}
}

// idle is the number of pooled sessions of key.
func (p *pool) idleLen(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle[key])
}

func startServer(t *testing.T, ip string, o smtptest.Options) *smtptest.Server {
	t.Helper()
	o.Addr = net.JoinHostPort(ip, "0")
	return smtptest.Start(t, o)
}
