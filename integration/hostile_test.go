package integration

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// hostileLimits are the daemon's limits under attack: small enough to reach
// with a test, and the point of each scenario.
const (
	hostileMaxConns    = 50
	hostileMaxAuthFail = 3
)

// dialFrom opens a TCP connection to addr from the local address ip, so a
// loopback client can play a remote one.
func dialFrom(ip, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return d.Dial("tcp", addr)
}

// clientFrom is an SMTP client connected from ip, past EHLO, and past
// STARTTLS when tlsConfig is not nil.
func clientFrom(t *testing.T, ip, addr string, tlsConfig *tls.Config) *smtp.Client {
	t.Helper()
	conn, err := dialFrom(ip, addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, ip, err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if tlsConfig != nil {
		c, err := smtp.NewClientStartTLS(conn, tlsConfig)
		if err != nil {
			conn.Close()
			t.Fatalf("STARTTLS from %s: %v", ip, err)
		}
		return c
	}
	c := smtp.NewClient(conn)
	if err := c.Hello("client.test"); err != nil {
		c.Close()
		t.Fatalf("EHLO from %s: %v", ip, err)
	}
	return c
}

// smtpCode is the reply code of an SMTP error, 0 for any other error.
func smtpCode(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// TestHostileClients runs one daemon (only 127.0.0.1 trusted, AUTH over
// STARTTLS for everyone else, small connection and AUTH-failure limits)
// against relay attempts, password guessing, slowloris and a flood of idle
// connections.
func TestHostileClients(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, dir)
	cert, key := ca.issue(t, "outbox", "outbox.test", "127.0.0.1")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	d := startDaemon(t, dir, fmt.Sprintf(`
hostname = "outbox.test"
trusted_networks = ["127.0.0.1/32"]
[spool]
dir = %q
[[listen.submission]]
address = %q
[tls]
cert_file = %q
key_file = %q
[[users]]
name = "app"
password_hash = %q
[limits]
max_connections = %d
max_auth_failures = %d
auth_failure_window = "10m"
[delivery]
paused = true
`, filepath.Join(dir, "spool"), addr, cert, key, passwdHash(t, "s3cret-app"), hostileMaxConns, hostileMaxAuthFail), addr)
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(ca.File)
	if err != nil || !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("test CA: %v", err)
	}
	tlsConfig := &tls.Config{RootCAs: pool, ServerName: "outbox.test"}

	t.Run("relay from an untrusted address", func(t *testing.T) { testRelayRefused(t, addr, tlsConfig) })
	t.Run("AUTH brute force", func(t *testing.T) { testAuthBruteForce(t, addr, tlsConfig) })
	t.Run("slowloris", func(t *testing.T) { testSlowloris(t, addr) })
	t.Run("1000 idle connections", func(t *testing.T) { testIdleFlood(t, addr) })

	// Through all of it nothing was queued but the legitimate messages.
	for _, m := range d.queueJSON() {
		if from := m["from"]; from != "legit@example.com" && from != "app@example.com" {
			t.Errorf("queued from a hostile client: %v", m)
		}
	}
}

func testRelayRefused(t *testing.T, addr string, tlsConfig *tls.Config) {
	type attempt struct {
		name     string
		ip       string
		starttls bool
	}
	var refused []string
	for _, a := range []attempt{{"plain", "127.0.0.2", false}, {"over STARTTLS", "127.0.0.2", true}, {"another address", "127.0.0.5", false}} {
		var tc *tls.Config
		if a.starttls {
			tc = tlsConfig
		}
		c := clientFrom(t, a.ip, addr, tc)
		err := c.Mail("spammer@evil.test", nil)
		if err == nil {
			err = c.Rcpt("victim@example.net", nil)
		}
		if code := smtpCode(err); code != 530 {
			t.Errorf("%s from %s: %v, want 530 5.7.0", a.name, a.ip, err)
		} else {
			refused = append(refused, a.name)
		}
		c.Close()
	}
	// The trusted address is not refused: the refusals above are about
	// where the client connects from.
	c := clientFrom(t, "127.0.0.1", addr, nil)
	defer c.Close()
	if err := c.Mail("legit@example.com", nil); err != nil {
		t.Errorf("MAIL from the trusted address: %v", err)
	}
	summary(t, "%d/3 unauthenticated relay attempts from 127.0.0.2/127.0.0.5 refused with 530", len(refused))
}

func testAuthBruteForce(t *testing.T, addr string, tlsConfig *tls.Config) {
	try := func(ip, password string) error {
		c := clientFrom(t, ip, addr, tlsConfig)
		defer c.Close()
		return c.Auth(sasl.NewPlainClient("", "app", password))
	}
	var codes []int
	for i := range hostileMaxAuthFail + 3 {
		err := try("127.0.0.3", fmt.Sprintf("guess-%d", i))
		codes = append(codes, smtpCode(err))
		want := 535
		if i >= hostileMaxAuthFail {
			want = 454
		}
		if c := smtpCode(err); c != want && !(want == 454 && c == 421) {
			t.Errorf("guess %d: %v, want %d", i+1, err, want)
		}
	}
	// Throttled means throttled: the right password is refused too...
	err := try("127.0.0.3", "s3cret-app")
	codes = append(codes, smtpCode(err))
	if c := smtpCode(err); c != 454 && c != 421 {
		t.Errorf("right password from the throttled address: %v, want 454 or 421", err)
	}
	// ...but only for the guessing address.
	if err := try("127.0.0.4", "s3cret-app"); err != nil {
		t.Errorf("right password from another address: %v", err)
	}
	summary(t, "replies to %d guesses then the right password from 127.0.0.3: %v (limit %d); 127.0.0.4 authenticates",
		hostileMaxAuthFail+3, codes, hostileMaxAuthFail)
}

// testSlowloris dribbles commands and a message body one byte a second on
// several connections while normal clients submit: they must be served
// promptly throughout.
func testSlowloris(t *testing.T, addr string) {
	const slow = 8
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	var mu sync.Mutex
	dribbled := 0
	for i := range slow {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer conn.Close()
			r := bufio.NewReader(conn)
			r.ReadString('\n') // greeting
			script := "EHLO slow.test\r\nMAIL FROM:<slow@example.com>\r\nRCPT TO:<x@example.net>\r\nDATA\r\nSubject: slow\r\n\r\n" + strings.Repeat("z", 100)
			if i%2 == 1 {
				// Half of them skip to the body at once and dribble DATA.
				fmt.Fprintf(conn, "EHLO slow.test\r\nMAIL FROM:<slow@example.com>\r\nRCPT TO:<x@example.net>\r\nDATA\r\n")
				script = "Subject: slow\r\n\r\n" + strings.Repeat("z", 100)
			}
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for j := 0; j < len(script); j++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				if _, err := conn.Write([]byte{script[j]}); err != nil {
					return
				}
				mu.Lock()
				dribbled++
				mu.Unlock()
			}
		})
	}
	// Normal clients, one after another for five seconds, while the
	// slow ones dribble.
	var worst time.Duration
	n := 0
	for start := time.Now(); time.Since(start) < 5*time.Second; n++ {
		t0 := time.Now()
		if err := trySubmit(addr, "legit@example.com", []string{"someone@example.net"},
			"From: legit@example.com\r\nSubject: while slowloris\r\n\r\nhello\r\n"); err != nil {
			t.Fatalf("normal client during slowloris: %v", err)
		}
		worst = max(worst, time.Since(t0))
	}
	if worst > 2*time.Second {
		t.Errorf("slowest normal submission took %v during slowloris", worst)
	}
	mu.Lock()
	defer mu.Unlock()
	summary(t, "%d slow clients dribbled %d bytes at 1 byte/s each; %d normal submissions meanwhile, slowest %v",
		slow, dribbled, n, worst.Round(time.Millisecond))
}

// testIdleFlood opens 1,000 connections at once and leaves them idle: the
// daemon serves max_connections of them and turns the rest away with 421,
// refuses a normal client while full, and serves it again once some close.
func testIdleFlood(t *testing.T, addr string) {
	const flood = 1000
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < 4*flood {
		lim.Cur = min(lim.Max, 4*flood)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Logf("raising RLIMIT_NOFILE: %v", err)
		}
	}
	conns := make([]net.Conn, flood)
	replies := make([]string, flood)
	var wg sync.WaitGroup
	for i := range flood {
		wg.Go(func() {
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err != nil {
				replies[i] = "dial: " + err.Error()
				return
			}
			conns[i] = c
			c.SetReadDeadline(time.Now().Add(15 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				replies[i] = "read: " + err.Error()
				return
			}
			replies[i] = line[:3]
		})
	}
	wg.Wait()
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	counts := map[string]int{}
	for _, r := range replies {
		counts[r]++
	}
	// A handful of slots may still be held by the previous scenarios'
	// connections while the daemon notices they closed.
	if counts["220"] > hostileMaxConns || counts["220"] < hostileMaxConns-5 || counts["220"]+counts["421"] != flood {
		t.Fatalf("replies to %d connections: %v, want %d greetings and the rest 421", flood, counts, hostileMaxConns)
	}

	// Full: a newcomer is told 421 too.
	if err := trySubmit(addr, "legit@example.com", []string{"someone@example.net"},
		"Subject: while full\r\n\r\nhello\r\n"); smtpCode(err) != 421 {
		t.Errorf("normal client while full: %v, want 421", err)
	}
	// Close ten of the served ones: the newcomer gets through.
	closed := 0
	for i, c := range conns {
		if c != nil && replies[i] == "220" && closed < 10 {
			c.Close()
			conns[i] = nil
			closed++
		}
	}
	t0 := time.Now()
	waitFor(t, "a normal client served after some idle connections closed", 10*time.Second, func() bool {
		return trySubmit(addr, "legit@example.com", []string{"someone@example.net"},
			"Subject: after the flood\r\n\r\nhello\r\n") == nil
	})
	summary(t, "%d concurrent idle connections: %d served, %d refused with 421 (limit %d); newcomer refused while full, served %v after %d closed",
		flood, counts["220"], counts["421"], hostileMaxConns, time.Since(t0).Round(time.Millisecond), closed)
}
