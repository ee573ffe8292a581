package integration

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
)

// listenerDaemon starts a daemon trusting 127.0.0.1 only, with STARTTLS,
// one user "app" (password "s3cret-app") and the given extra settings
// (TOML lines, [limits] first). It returns the daemon, the submission
// address and a client TLS config.
func listenerDaemon(t *testing.T, limits, extra string) (*daemon, string, *tls.Config) {
	t.Helper()
	dir := t.TempDir()
	ca := newTestCA(t, dir)
	cert, key := ca.issue(t, "outbox", "outbox.test", "127.0.0.1")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	d := startDaemon(t, dir, fmt.Sprintf(`
hostname = "outbox.test"
trusted_networks = ["127.0.0.1/32"]
%s
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
allowed_senders = ["*@example.com"]
[limits]
%s
[delivery]
paused = true
`, extra, filepath.Join(dir, "spool"), addr, cert, key, passwdHash(t, "s3cret-app"), limits), addr)
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(ca.File)
	if err != nil || !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("test CA: %v", err)
	}
	return d, addr, &tls.Config{RootCAs: pool, ServerName: "outbox.test"}
}

// TestListenerAuthThrottleParallel: 40 password guesses from one address
// at once, each on its own connection over STARTTLS; no more than
// max_auth_failures passwords may be checked (each 535 is one check).
func TestListenerAuthThrottleParallel(t *testing.T) {
	const guesses, limit = 40, 5
	_, addr, tlsConfig := listenerDaemon(t, fmt.Sprintf(
		"max_auth_failures = %d\nmax_connections = 100\nmax_connections_per_client = 60\nconnection_rate = 100", limit), "")
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range guesses {
		wg.Go(func() {
			c := clientFrom(t, "127.0.0.2", addr, tlsConfig)
			defer c.Close()
			<-start
			err := c.Auth(sasl.NewPlainClient("", "app", fmt.Sprintf("guess-%d", i)))
			mu.Lock()
			codes[smtpCode(err)]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	if codes[535] > limit || codes[535]+codes[454] != guesses {
		t.Errorf("replies to %d parallel guesses: %v, want at most %d × 535 (passwords checked), the rest 454", guesses, codes, limit)
	}
	summary(t, "%d parallel guesses from one address: %d passwords checked (535), %d refused unchecked (454); max_auth_failures %d",
		guesses, codes[535], codes[454], limit)
}

// greeting connects from ip and returns the first reply line; the
// connection stays open until the test ends.
func greeting(t *testing.T, ip, addr string) string {
	t.Helper()
	c, err := dialFrom(ip, addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", ip, err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "read: " + err.Error()
	}
	return strings.TrimRight(line, "\r\n")
}

// swaksSend submits one message with swaks from ip (STARTTLS and AUTH as
// "app" when auth is set) and returns its output.
func swaksFrom(t *testing.T, addr, ip, from string, auth bool, args ...string) (string, error) {
	t.Helper()
	swaks := needSwaks(t)
	host, port, _ := strings.Cut(addr, ":")
	cmd := []string{"--server", host, "--port", port, "--local-interface", ip,
		"--from", from, "--to", "rcpt@example.net", "--timeout", "20"}
	if auth {
		cmd = append(cmd, "--tls", "--auth", "PLAIN", "--auth-user", "app", "--auth-password", "s3cret-app")
	}
	out, err := exec.Command(swaks, append(cmd, args...)...).CombinedOutput()
	return string(out), err
}

// TestListenerFairness: an untrusted address holding every connection it
// may, and then untrusted clients filling their whole share, lock out
// neither a trusted application nor another address.
func TestListenerFairness(t *testing.T) {
	const total, reserved, perClient = 20, 4, 5
	_, addr, _ := listenerDaemon(t, fmt.Sprintf("max_connections = %d\nreserved_connections = %d\nmax_connections_per_client = %d",
		total, reserved, perClient), "")
	held := 0
	for range 50 {
		if g := greeting(t, "127.0.0.2", addr); strings.HasPrefix(g, "220 ") {
			held++
		} else {
			break
		}
	}
	if held != perClient {
		t.Errorf("127.0.0.2 holds %d connections, want %d", held, perClient)
	}
	out, err := swaksFrom(t, addr, "127.0.0.1", "app@example.com", false, "--body", "trusted while .2 holds its share")
	trustedServed := err == nil && strings.Contains(out, "250 2.0.0 Ok: queued")
	if !trustedServed {
		t.Errorf("trusted client while 127.0.0.2 holds its connections: %v\n%s", err, out)
	}
	if g := greeting(t, "127.0.0.3", addr); !strings.HasPrefix(g, "220 ") {
		t.Errorf("another address while 127.0.0.2 holds its connections: %q", g)
	}
	// Fill the unauthenticated share from more addresses.
	anon := held + 1
	for ip := 4; anon < total-reserved; ip++ {
		for range perClient {
			if anon == total-reserved {
				break
			}
			if g := greeting(t, fmt.Sprintf("127.0.0.%d", ip), addr); !strings.HasPrefix(g, "220 ") {
				t.Fatalf("filling the share: %q", g)
			}
			anon++
		}
	}
	refused := greeting(t, "127.0.0.20", addr)
	if !strings.HasPrefix(refused, "421 4.7.0") {
		t.Errorf("untrusted newcomer with the share full: %q, want 421 4.7.0", refused)
	}
	out, err = swaksFrom(t, addr, "127.0.0.1", "app@example.com", false, "--body", "trusted while the share is full")
	if err != nil || !strings.Contains(out, "250 2.0.0 Ok: queued") {
		t.Errorf("trusted client while the untrusted share is full: %v\n%s", err, out)
	}
	summary(t, "127.0.0.2 holds %d connections (its limit); trusted swaks served then: %t; %d unauthenticated connections fill the share, newcomer %q, trusted still served",
		held, trustedServed, anon, refused[:min(len(refused), 9)])
}

// TestListenerDataTimeout trickles one byte every 0.6 s into DATA and into
// BDAT with data_timeout 3s and read_timeout 1.2s (the issue's 2 s, 10 s and
// 4 s scaled by 0.3): the transfer must end at data_timeout with 421 4.4.2.
func TestListenerDataTimeout(t *testing.T) {
	_, addr, _ := listenerDaemon(t, "data_timeout = \"3s\"\nread_timeout = \"1200ms\"", "")
	for _, mode := range []string{"DATA", "BDAT"} {
		t.Run(mode, func(t *testing.T) {
			c, err := dialFrom("127.0.0.1", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			r := bufio.NewReader(c)
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			send := func(s string) string {
				fmt.Fprint(c, s)
				for {
					line, err := r.ReadString('\n')
					if err != nil || len(line) < 4 || line[3] != '-' {
						return line
					}
				}
			}
			r.ReadString('\n')
			send("EHLO c\r\n")
			send("MAIL FROM:<app@example.com>\r\n")
			send("RCPT TO:<x@example.net>\r\n")
			if mode == "DATA" {
				if got := send("DATA\r\n"); !strings.HasPrefix(got, "354") {
					t.Fatalf("DATA: %q", got)
				}
			} else {
				fmt.Fprint(c, "BDAT 10000 LAST\r\n")
			}
			start := time.Now()
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				tick := time.NewTicker(600 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
					}
					if _, err := c.Write([]byte("x")); err != nil {
						return
					}
				}
			}()
			var last string
			for {
				line, err := r.ReadString('\n')
				if line != "" {
					last = strings.TrimRight(line, "\r\n")
				}
				if err != nil {
					break
				}
			}
			lasted := time.Since(start)
			if !strings.HasPrefix(last, "421 4.4.2") || lasted > 5*time.Second || lasted < 2*time.Second {
				t.Errorf("1 byte per 0.6 s in %s: closed after %v with %q, want 421 4.4.2 at about 3 s", mode, lasted, last)
			}
			summary(t, "1 byte per 0.6 s in %s, data_timeout 3s, read_timeout 1.2s: closed after %v with %q",
				mode, lasted.Round(100*time.Millisecond), last)
		})
	}
}

// rawSMTP runs a byte-exact session from 127.0.0.1 (trusted) and returns
// each reply's last line; each element of steps is written at once.
func rawSMTP(t *testing.T, addr string, steps ...string) []string {
	t.Helper()
	c, err := dialFrom("127.0.0.1", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	read := func() string {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return "read: " + err.Error()
			}
			if len(line) < 4 || line[3] != '-' {
				return strings.TrimRight(line, "\r\n")
			}
		}
	}
	replies := []string{read()}
	for _, s := range steps {
		if _, err := io.WriteString(c, s); err != nil {
			t.Fatal(err)
		}
		replies = append(replies, read())
	}
	return replies
}

// TestListenerMessageFraming drives the framing rules with swaks where it
// can send the bytes, raw sockets where the bytes are the attack.
func TestListenerMessageFraming(t *testing.T) {
	const max = 10240
	d, addr, _ := listenerDaemon(t, fmt.Sprintf("max_message_size = %d", max), "")
	dir := t.TempDir()
	exact := sizedMessage(max)
	for _, tt := range []struct {
		name, msg, want string
	}{
		{"exactly max_message_size", exact, "250 2.0.0 Ok: queued"},
		{"one octet more", exact[:len(exact)-2] + "y\r\n", "552 5.3.4"},
	} {
		// swaks ends the data with CRLF.CRLF itself: the file leaves
		// out the last line's CRLF.
		file := filepath.Join(dir, "msg")
		if err := os.WriteFile(file, []byte(strings.TrimSuffix(tt.msg, "\r\n")), 0o600); err != nil {
			t.Fatal(err)
		}
		out, _ := swaksFrom(t, addr, "127.0.0.1", "app@example.com", false, "--data", "@"+file)
		if !strings.Contains(out, tt.want) {
			t.Errorf("swaks, %s (%d octets): want %q\n%s", tt.name, len(tt.msg), tt.want, out)
		}
	}
	envelope := []string{"EHLO c\r\n", "MAIL FROM:<app@example.com>\r\n", "RCPT TO:<x@example.net>\r\n"}
	long := "Subject: long\r\n\r\n" + strings.Repeat("L", 5000) + "\r\n"
	for _, tt := range []struct {
		name  string
		steps []string
		want  string
	}{
		{"dot CR X", []string{"DATA\r\n", "Subject: x\r\n\r\nhi\r\n.\rX\r\n.\r\n"}, "554 5.6.0"},
		{"dot CR CR LF dot", []string{"DATA\r\n", "Subject: x\r\n\r\nhi\r\n.\r\r\n.\r\n"}, "554 5.6.0"},
		{"NUL", []string{"DATA\r\n", "Subject: x\r\n\r\n\x00.\r\n.\r\n"}, "554 5.6.0 NUL"},
		{"long line in DATA", []string{"DATA\r\n", long + ".\r\n"}, "250 2.0.0"},
		{"long line in pipelined BDAT", []string{"BDAT " + fmt.Sprint(len(long)) + " LAST\r\n" + long}, "250 2.0.0"},
	} {
		replies := rawSMTP(t, addr, append(append([]string{}, envelope...), tt.steps...)...)
		if got := replies[len(replies)-1]; !strings.HasPrefix(got, tt.want) {
			t.Errorf("%s: %q, want %q (all replies %q)", tt.name, got, tt.want, replies)
		}
	}
	auth := rawSMTP(t, addr, "EHLO c\r\n", "AUTH PLAIN !!!\r\n")
	if got := auth[len(auth)-1]; !strings.HasPrefix(got, "501 5.5.2") {
		t.Errorf("AUTH with undecodable base64: %q, want 501 5.5.2", got)
	}
	if n := len(d.queueJSON()); n != 3 {
		t.Errorf("%d messages queued, want 3 (exact size, two long lines)", n)
	}
}

// sizedMessage is a message of exactly size octets of CRLF lines.
func sizedMessage(size int) string {
	var b strings.Builder
	b.WriteString("Subject: sized\r\n\r\n")
	for size-b.Len() >= 160 {
		b.WriteString(strings.Repeat("y", 78) + "\r\n")
	}
	b.WriteString(strings.Repeat("y", size-b.Len()-2) + "\r\n")
	return b.String()
}

// TestListenerSenderBinding: "app" may send only as *@example.com.
func TestListenerSenderBinding(t *testing.T) {
	_, addr, _ := listenerDaemon(t, "", "")
	out, err := swaksFrom(t, addr, "127.0.0.2", "billing@example.org", true)
	if err == nil || !strings.Contains(out, "553 5.7.1") {
		t.Errorf("app as billing@example.org: %v, want 553 5.7.1\n%s", err, out)
	}
	out, err = swaksFrom(t, addr, "127.0.0.2", "app@example.com", true)
	if err != nil || !strings.Contains(out, "250 2.0.0 Ok: queued") {
		t.Errorf("app as app@example.com: %v\n%s", err, out)
	}
}

// TestListenerMetricsIdleConnections opens 300 keep-alive connections to
// the metrics endpoint and counts the daemon's file descriptors.
func TestListenerMetricsIdleConnections(t *testing.T) {
	const idle = 300
	metrics := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	d, _, _ := listenerDaemon(t, "", fmt.Sprintf("[metrics]\naddress = %q", metrics))
	fds := func() int {
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", d.cmd.Process.Pid))
		if err != nil {
			t.Skipf("cannot count the daemon's descriptors: %v", err)
		}
		return len(ents)
	}
	waitFor(t, "the metrics endpoint", 10*time.Second, func() bool {
		c, err := net.Dial("tcp", metrics)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	before := fds()
	for range idle {
		c, err := net.Dial("tcp", metrics)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprint(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	// Let the daemon accept what it will.
	var held int
	prev := -1
	waitFor(t, "the descriptor count to settle", 10*time.Second, func() bool {
		held = fds() - before
		settled := held == prev
		prev = held
		return settled && held > 0
	})
	if held > 20 {
		t.Errorf("%d idle metrics connections hold %d descriptors of the daemon, want at most the cap (16)", idle, held)
	}
	summary(t, "%d idle keep-alive metrics connections hold %d descriptors of the daemon", idle, held)
}

// TestListenerPreAuthAndJunk: an untrusted client that does not
// authenticate loses its slot after preauth_timeout of silence, and one
// keeping it with NOOPs after max_junk_commands.
func TestListenerPreAuthAndJunk(t *testing.T) {
	_, addr, _ := listenerDaemon(t, "preauth_timeout = \"1s\"\nmax_junk_commands = 5", "")
	session := func(keepAlive bool) (last string, lasted time.Duration, noops int) {
		c, err := dialFrom("127.0.0.2", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		r := bufio.NewReader(c)
		start := time.Now()
		fmt.Fprint(c, "EHLO idle.test\r\n")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return last, time.Since(start), noops
			}
			last = strings.TrimRight(line, "\r\n")
			if keepAlive && strings.HasPrefix(line, "250 ") {
				noops++
				fmt.Fprint(c, "NOOP\r\n")
			}
		}
	}
	last, lasted, _ := session(false)
	if !strings.HasPrefix(last, "421 4.4.2") || lasted > 5*time.Second {
		t.Errorf("idle untrusted client: closed after %v with %q, want 421 4.4.2 after about 1s", lasted, last)
	}
	summary(t, "idle untrusted client before AUTH, preauth_timeout 1s: closed after %v with %q", lasted.Round(100*time.Millisecond), last)
	last, lasted, noops := session(true)
	if !strings.HasPrefix(last, "421 4.7.0") || noops > 7 {
		t.Errorf("NOOP keep-alive: closed after %d NOOPs with %q, want 421 4.7.0 after 5", noops, last)
	}
	summary(t, "untrusted client sending NOOPs, max_junk_commands 5: closed after %d NOOPs (%v) with %q", noops, lasted.Round(10*time.Millisecond), last)
}
