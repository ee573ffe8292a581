package delivery

import (
	"context"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery/smtptest"
)

func TestConnectionReuse(t *testing.T) {
	pki := newPKI(t, "relay.test")
	srv := startServer(t, "127.0.0.4", smtptest.Options{
		TLSConfig: pki.serverConfig(),
		Users:     map[string]string{"app": "s3cret"},
	})
	dl := &mapDialer{to: map[string]string{"relay.test:587": srv.Addr}}
	d := relayDeliverer(t, dl, RelayServer{Host: "relay.test", Username: "app", Password: "s3cret", RootCAs: pki.pool})
	for i := range 3 {
		res := d.Deliver(context.Background(), envelope("example.test", true, "a@example.test"))
		if res.Rcpts[0].Status != Delivered || res.TLS != "TLS1.3 TLS_AES_128_GCM_SHA256 verified" {
			t.Fatalf("delivery %d: %+v", i, res)
		}
		waitFor(t, "session back in the pool", func() bool { return d.pool.idleLen("relay:smarthost") == 1 })
	}
	if n := srv.Connections(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
	if n := len(srv.Auths()); n != 1 {
		t.Errorf("%d logins, want 1", n)
	}
	msgs := srv.Messages()
	if len(msgs) != 3 {
		t.Fatalf("%d messages, want 3", len(msgs))
	}
	for _, m := range msgs {
		if m.AuthUser != "app" || !m.TLS {
			t.Errorf("message %+v", m)
		}
	}
}

func TestPooledConnectionLost(t *testing.T) {
	srv := startServer(t, "127.0.0.2", smtptest.Options{})
	dl := &mapDialer{to: map[string]string{"127.0.0.2:25": srv.Addr}}
	d := newTestDeliverer(t, &fakeResolver{hosts: map[string][]Host{"example.test": {host("mx1.example.test", 10, "127.0.0.2")}}}, dl)
	if res := d.Deliver(context.Background(), envelope("example.test", true, "a@example.test")); res.Rcpts[0].Status != Delivered {
		t.Fatalf("%+v", res)
	}
	waitFor(t, "pooled session", func() bool { return d.pool.idleLen("direct:example.test") == 1 })
	srv.DropConnections()
	res := d.Deliver(context.Background(), envelope("example.test", true, "b@example.test"))
	if res.Rcpts[0].Status != Delivered || res.Ambiguous || res.DestinationDown {
		t.Fatalf("after the pooled connection died: %+v", res)
	}
	if n := srv.Connections(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
	if n := len(srv.Messages()); n != 2 {
		t.Errorf("%d messages, want 2", n)
	}
}

func TestPoolLimits(t *testing.T) {
	type clock struct {
		mu  sync.Mutex
		now time.Time
	}
	tests := []struct {
		name  string
		setup func(o *Options)
		step  func(c *clock) // between the two deliveries
	}{
		{"max messages per connection", func(o *Options) { o.MaxMessagesPerConn = 1 }, nil},
		{"reuse disabled", func(o *Options) { o.IdleTimeout = -1 }, nil},
		{"idle limit by the clock", func(o *Options) { o.IdleTimeout = time.Hour }, func(c *clock) {
			c.mu.Lock()
			c.now = c.now.Add(2 * time.Hour)
			c.mu.Unlock()
		}},
		{"idle timer", func(o *Options) { o.IdleTimeout = 20 * time.Millisecond }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, "127.0.0.2", smtptest.Options{})
			dl := &mapDialer{to: map[string]string{"127.0.0.2:25": srv.Addr}}
			c := &clock{now: time.Unix(1e9, 0)}
			d := newTestDeliverer(t, &fakeResolver{hosts: map[string][]Host{"example.test": {host("mx1.example.test", 10, "127.0.0.2")}}}, dl, func(o *Options) {
				o.Now = func() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
			}, tt.setup)
			for i := range 2 {
				if res := d.Deliver(context.Background(), envelope("example.test", true, "a@example.test")); res.Rcpts[0].Status != Delivered {
					t.Fatalf("%+v", res)
				}
				if i == 0 && tt.step != nil {
					waitFor(t, "pooled session", func() bool { return d.pool.idleLen("direct:example.test") == 1 })
					tt.step(c)
				}
				if i == 0 && tt.name == "idle timer" {
					waitFor(t, "pooled session", func() bool { return srv.Connections() == 1 && len(srv.Messages()) == 1 })
					waitFor(t, "idle session closed", func() bool { return d.pool.idleLen("direct:example.test") == 0 })
				}
			}
			if n := srv.Connections(); n != 2 {
				t.Errorf("%d connections, want 2", n)
			}
		})
	}
}

func TestLimiter(t *testing.T) {
	l := newLimiter(1, 2)
	rel1, err := l.acquire(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	// A second delivery to "a" waits; cancelation ends the wait.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.acquire(ctx, "a"); err == nil {
		t.Fatal("second slot of a destination limited to 1 was granted")
	}
	rel2, err := l.acquire(context.Background(), "b")
	if err != nil {
		t.Fatal(err)
	}
	// Overall limit 2 is reached: "c" waits.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if _, err := l.acquire(ctx2, "c"); err == nil {
		t.Fatal("third overall slot granted with a limit of 2")
	}
	rel1()
	rel3, err := l.acquire(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	rel2()
	rel3()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.dest) != 0 || len(l.total) != 0 {
		t.Errorf("limiter not empty after releases: %d destinations, %d slots", len(l.dest), len(l.total))
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	srv := startServer(t, "127.0.0.2", smtptest.Options{Rcpt: func(to string) error {
		if to == "bad@example.test" {
			return smtptest.Reply(550, "5.1.1", "no")
		}
		return nil
	}})
	pki := newPKI(t, "mx2.example.test")
	tlsSrv := startServer(t, "127.0.0.3", smtptest.Options{TLSConfig: pki.serverConfig()})
	silent := startServer(t, "127.0.0.5", smtptest.Options{Silent: true})
	base := runtime.NumGoroutine()

	dl := &mapDialer{to: map[string]string{"127.0.0.2:25": srv.Addr, "127.0.0.3:25": tlsSrv.Addr, "127.0.0.5:25": silent.Addr}}
	d := newTestDeliverer(t, &fakeResolver{hosts: map[string][]Host{
		"example.test": {host("mx1.example.test", 10, "127.0.0.2")},
		"tls.test":     {host("mx2.example.test", 10, "127.0.0.3")},
		"silent.test":  {host("mx5.example.test", 10, "127.0.0.5")},
	}}, dl, func(o *Options) { o.Timeouts.Greeting = 50 * time.Millisecond })
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			dom := []string{"example.test", "tls.test", "silent.test"}[i%3]
			d.Deliver(context.Background(), envelope(dom, i%2 == 0, "a@"+dom, "bad@example.test"))
		})
	}
	wg.Wait()
	if err := d.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second) // generous: CI machines are slow under -race
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestReuseWithoutRSET: a session reused after a completed transaction goes
// straight to the next MAIL (RFC 5321 §4.1.1.4): no RSET and no second EHLO
// per message. A transaction left open (all-or-nothing withheld DATA) is
// ended by an RSET before the session is pooled, with no EHLO after it.
func TestReuseWithoutRSET(t *testing.T) {
	srv := startServer(t, "127.0.0.2", smtptest.Options{Rcpt: func(to string) error {
		if strings.HasPrefix(to, "busy@") {
			return smtptest.Reply(450, "4.2.0", "busy")
		}
		return nil
	}})
	dl := &recordingDialer{to: srv.Addr}
	d := newTestDeliverer(t, &fakeResolver{hosts: map[string][]Host{"example.test": {host("mx1.example.test", 10, "127.0.0.2")}}}, dl)
	for i := range 3 {
		if res := d.Deliver(context.Background(), envelope("example.test", true, "a@example.test")); res.Rcpts[0].Status != Delivered {
			t.Fatalf("delivery %d: %+v", i, res)
		}
		waitFor(t, "session back in the pool", func() bool { return d.pool.idleLen("direct:example.test") == 1 })
	}
	if got := dl.count("EHLO"); got != 1 || dl.count("RSET") != 0 || dl.count("MAIL") != 3 {
		t.Errorf("3 reused transactions sent EHLO %d, RSET %d, MAIL %d times; want 1, 0, 3", got, dl.count("RSET"), dl.count("MAIL"))
	}
	// All-or-nothing withholds DATA: that transaction must be reset.
	d.Deliver(context.Background(), envelope("example.test", false, "a@example.test", "busy@example.test"))
	waitFor(t, "RSET after the withheld DATA", func() bool { return dl.count("RSET") == 1 })
	waitFor(t, "session back in the pool", func() bool { return d.pool.idleLen("direct:example.test") == 1 })
	if res := d.Deliver(context.Background(), envelope("example.test", true, "a@example.test")); res.Rcpts[0].Status != Delivered {
		t.Fatalf("delivery after the withheld DATA: %+v", res)
	}
	if dl.count("RSET") != 1 || dl.count("EHLO") != 1 || dl.count("MAIL") != 5 {
		t.Errorf("RSET %d, EHLO %d, MAIL %d times; want 1, 1, 5", dl.count("RSET"), dl.count("EHLO"), dl.count("MAIL"))
	}
}

// TestPipelinedResetBetweenTransactions: within one delivery, a
// transaction that ended without DATA is reset by an RSET that goes in
// the next transaction's pipeline.
func TestPipelinedResetBetweenTransactions(t *testing.T) {
	srv := smtptest.StartScript(t, smtptest.ScriptOptions{Pipelining: true, Reply: func(cmd string) string {
		if strings.HasPrefix(cmd, "RCPT TO:<nobody") {
			return "550 5.1.1 no such user"
		}
		return ""
	}})
	d, dl := scriptMX(t, srv.Addr, func(o *Options) { o.MaxRcptsPerTx = 2 })
	res := d.Deliver(context.Background(), envelope("example.test", true, "nobody1@example.test", "nobody2@example.test", "a@example.test", "b@example.test"))
	want := []string{"nobody1@example.test=bounced 550", "nobody2@example.test=bounced 550", "a@example.test=delivered 250", "b@example.test=delivered 250"}
	if got := statuses(res); !slices.Equal(got, want) {
		t.Fatalf("outcomes %v, want %v", got, want)
	}
	w := commandsIn(dl.writeWith("RSET"))
	if len(w) != 5 || w[0] != "RSET" || !strings.HasPrefix(w[1], "MAIL FROM:") || w[4] != "DATA" {
		t.Errorf("the second transaction's first write: %q; want RSET, MAIL, 2 RCPT, DATA", w)
	}
	if v := srv.Violations(); len(v) > 0 {
		t.Errorf("commands sent ahead of a reply: %q", v)
	}
}

// recordingDialer dials one address and records what is written, one
// entry per Write.
type recordingDialer struct {
	to     string
	mu     sync.Mutex
	w      strings.Builder
	writes []string
}

// writeWith returns the first Write that contains s, or "".
func (r *recordingDialer) writeWith(s string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range r.writes {
		if strings.Contains(w, s) {
			return w
		}
	}
	return ""
}

func (r *recordingDialer) DialContext(ctx context.Context, network, _ string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, r.to)
	if err != nil {
		return nil, err
	}
	return &recordingConn{Conn: c, r: r}, nil
}

func (r *recordingDialer) count(verb string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, line := range strings.Split(r.w.String(), "\r\n") {
		if strings.HasPrefix(line, verb) {
			n++
		}
	}
	return n
}

type recordingConn struct {
	net.Conn
	r *recordingDialer
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.r.mu.Lock()
	c.r.w.Write(p)
	c.r.writes = append(c.r.writes, string(p))
	c.r.mu.Unlock()
	return c.Conn.Write(p)
}
