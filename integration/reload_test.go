package integration

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// reloadConfig is a daemon configuration requiring AUTH over STARTTLS (no
// network is trusted), with the given certificate, users and extra keys.
func reloadConfig(dir, addr, cert, key string, users map[string]string, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "hostname = \"outbox.test\"\ntrusted_networks = []\n[spool]\ndir = %q\n", filepath.Join(dir, "spool"))
	fmt.Fprintf(&b, "[[listen.submission]]\naddress = %q\n[tls]\ncert_file = %q\nkey_file = %q\n", addr, cert, key)
	for name, hash := range users {
		fmt.Fprintf(&b, "[[users]]\nname = %q\npassword_hash = %q\n", name, hash)
	}
	fmt.Fprintf(&b, "[delivery]\npaused = true\n%s\n", extra)
	return b.String()
}

// authClient connects, says STARTTLS and authenticates with PLAIN; it
// returns the client and the serial number of the server's certificate.
func authClient(addr string, roots *x509.CertPool, user, pass string) (*smtp.Client, string, error) {
	c, err := smtp.DialStartTLS(addr, &tls.Config{RootCAs: roots, ServerName: "outbox.test"})
	if err != nil {
		return nil, "", err
	}
	if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
		c.Close()
		return nil, "", err
	}
	// The handshake ran with the EHLO that AUTH sent first.
	st, _ := c.TLSConnectionState()
	if len(st.PeerCertificates) == 0 {
		c.Close()
		return nil, "", fmt.Errorf("no server certificate: %+v", st)
	}
	return c, st.PeerCertificates[0].SerialNumber.String(), nil
}

// canAuth reports whether user can log in now.
func canAuth(t *testing.T, addr string, roots *x509.CertPool, user, pass string) bool {
	t.Helper()
	c, _, err := authClient(addr, roots, user, pass)
	if err != nil {
		if !strings.Contains(err.Error(), "535") {
			t.Fatalf("AUTH %s: want success or 535, got %v", user, err)
		}
		return false
	}
	c.Quit()
	return true
}

// cheapHash is `outbox passwd --cost 4`: bcrypt at the default cost takes
// seconds per login under the race detector.
func cheapHash(t *testing.T, password string) string {
	t.Helper()
	cmd := exec.Command(binary, "passwd", "--cost", "4")
	cmd.Stdin = strings.NewReader(password + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("outbox passwd: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func certSerial(t *testing.T, path string) string {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(path, strings.TrimSuffix(path, ".pem")+".key")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return cert.SerialNumber.String()
}

// TestReload changes the configuration under a running daemon with SIGHUP:
// broken files are rejected and the old users keep working; a good file
// adds a user and a new certificate at once, without a restart and without
// dropping a connection opened before.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, dir)
	roots := x509.NewCertPool()
	roots.AddCert(ca.ca.Cert)
	cert1, key1 := ca.issue(t, "first", "outbox.test")
	appHash, opsHash := cheapHash(t, "app-pw"), cheapHash(t, "ops-pw")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	cfg := reloadConfig(dir, addr, cert1, key1, map[string]string{"app": appHash}, "")
	d := startDaemon(t, dir, cfg, addr)

	// A session opened before any reload, kept across all of them.
	early, serial, err := authClient(addr, roots, "app", "app-pw")
	if err != nil {
		t.Fatalf("app before reload: %v", err)
	}
	defer early.Close()
	if want := certSerial(t, cert1); serial != want {
		t.Fatalf("certificate serial %s, want %s", serial, want)
	}
	if canAuth(t, addr, roots, "ops", "ops-pw") {
		t.Fatal("ops can log in before it is configured")
	}

	reload := func(content, logLine string, n int) {
		t.Helper()
		writeFile(t, d.config, ownAPIPort(content))
		d.cmd.Process.Signal(syscall.SIGHUP)
		waitFor(t, fmt.Sprintf("%q #%d in the log", logLine, n), 10*time.Second, func() bool {
			return strings.Count(d.log.String(), logLine) == n
		})
	}

	broken := []struct {
		name    string
		content string
		logs    string // in the rejection
	}{
		{"TOML syntax", cfg + "\n[users\n", "reload rejected"},
		{"invalid hash", reloadConfig(dir, addr, cert1, key1, map[string]string{"app": appHash, "ops": "not-a-hash"}, ""), "users"},
		{"missing certificate", reloadConfig(dir, addr, filepath.Join(dir, "gone.pem"), key1, map[string]string{"app": appHash, "ops": opsHash}, ""), "tls.cert_file"},
	}
	for i, tt := range broken {
		t.Run(tt.name, func(t *testing.T) {
			reload(tt.content, "reload rejected", i+1)
			lines := strings.Split(d.log.String(), "\n")
			var last string
			for _, l := range lines {
				if strings.Contains(l, "reload rejected") {
					last = l
				}
			}
			if !strings.Contains(last, tt.logs) {
				t.Errorf("rejection does not name %q: %s", tt.logs, last)
			}
			if !canAuth(t, addr, roots, "app", "app-pw") {
				t.Error("app cannot log in after a rejected reload")
			}
			if canAuth(t, addr, roots, "ops", "ops-pw") {
				t.Error("ops can log in from a rejected file")
			}
		})
	}

	// A good file: a new user, a new certificate, and a key that needs a
	// restart (logged, not applied).
	cert2, key2 := ca.issue(t, "second", "outbox.test")
	reload(reloadConfig(dir, addr, cert2, key2, map[string]string{"app": appHash, "ops": opsHash}, "[limits]\nmax_recipients = 7"),
		"configuration reloaded", 1)
	if !strings.Contains(d.log.String(), "key=limits.max_recipients") {
		t.Errorf("the restart-only change is not reported\n%s", d.log)
	}
	c, serial, err := authClient(addr, roots, "ops", "ops-pw")
	if err != nil {
		t.Fatalf("ops after reload: %v", err)
	}
	c.Quit()
	if want := certSerial(t, cert2); serial != want {
		t.Errorf("certificate serial after reload %s, want %s (the new one)", serial, want)
	}
	if !canAuth(t, addr, roots, "app", "app-pw") {
		t.Error("app cannot log in after the reload")
	}

	// The early session was not dropped: it still submits.
	if err := early.SendMail("app@example.com", []string{"x@example.org"},
		strings.NewReader("From: app@example.com\r\nSubject: across reloads\r\n\r\nbody\r\n")); err != nil {
		t.Fatalf("session opened before the reloads: %v", err)
	}
	msgs := d.queueJSON()
	if len(msgs) != 1 || msgs[0]["from"] != "app@example.com" {
		t.Errorf("queue = %v", msgs)
	}
}
