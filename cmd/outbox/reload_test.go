package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/outbox-mta/outbox/config"
	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/delivery/smtptest"
	"github.com/outbox-mta/outbox/queue/submission"
)

func TestRestartKeys(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *config.Config)
		want   []string
	}{
		{"nothing", func(*config.Config) {}, nil},
		{"users are reloaded", func(c *config.Config) { c.Users = []config.User{{Name: "a", PasswordHash: "x"}} }, nil},
		{"tls files are reloaded", func(c *config.Config) { c.TLS.CertFile, c.TLS.KeyFile = "c", "k" }, nil},
		{"routes and relays are reloaded", func(c *config.Config) {
			c.Routes = map[string]string{"*": "r"}
			c.Relays = map[string]config.Relay{"r": {}}
		}, nil},
		{"listener", func(c *config.Config) { c.Listen.Submission[0].Address = "127.0.0.1:2525" }, []string{"listen.submission"}},
		{"spool and admin socket", func(c *config.Config) {
			c.Spool.Dir = "/elsewhere"
			c.Admin.Socket = "/run/x.sock"
		}, []string{"spool.dir", "admin.socket"}},
		{"top-level values", func(c *config.Config) {
			c.Hostname = "other.example"
			c.TrustedNetworks = nil
		}, []string{"hostname", "trusted_networks"}},
		{"limits and delivery", func(c *config.Config) {
			c.Limits.MaxRecipients++
			c.Delivery.Timeouts.Connect.Duration++
			c.Delivery.Paused = !c.Delivery.Paused
		}, []string{"limits.max_recipients", "delivery.paused", "delivery.timeouts"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, new := config.Default(), config.Default()
			tt.change(new)
			got := restartKeys(old, new)
			if !sameSet(got, tt.want) {
				t.Errorf("restartKeys = %q, want %q", got, tt.want)
			}
		})
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// reloadFixture is a configuration file with a certificate and a user, and
// the live holders built from it as serve builds them.
type reloadFixture struct {
	dir  string
	path string
	live *live
	rl   *reloader
	log  *bytes.Buffer
}

func newReloadFixture(t *testing.T) *reloadFixture {
	t.Helper()
	dir := t.TempDir()
	f := &reloadFixture{dir: dir, path: filepath.Join(dir, "outbox.toml"), log: new(bytes.Buffer)}
	f.write(t, f.config(t, "first", map[string]string{"app": "app-pw"}, ""))
	cfg, err := config.Load(f.path)
	if err != nil {
		t.Fatal(err)
	}
	set, err := loadSettings(cfg)
	if err != nil {
		t.Fatal(err)
	}
	del := delivery.New(delivery.Options{Routes: set.routes, Relays: set.relays})
	t.Cleanup(func() { del.Shutdown(context.Background()) })
	f.live = newLive(set, del)
	f.rl = &reloader{path: f.path, started: cfg, live: f.live, log: slog.New(slog.NewTextHandler(f.log, nil)), now: time.Now}
	return f
}

// config returns a configuration with a certificate named cert (created
// if needed) and users (name → password).
func (f *reloadFixture) config(t *testing.T, cert string, users map[string]string, extra string) string {
	t.Helper()
	certFile, keyFile := filepath.Join(f.dir, cert+".pem"), filepath.Join(f.dir, cert+".key")
	if _, err := os.Stat(certFile); err != nil {
		writeSelfSigned(t, certFile, keyFile, cert)
	}
	var b strings.Builder
	b.WriteString("hostname = \"outbox.test\"\n[spool]\ndir = \"" + filepath.Join(f.dir, "spool") + "\"\n")
	b.WriteString("[tls]\ncert_file = \"" + certFile + "\"\nkey_file = \"" + keyFile + "\"\n")
	for _, name := range slices.Sorted(maps.Keys(users)) {
		h, err := bcrypt.GenerateFromPassword([]byte(users[name]), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("[[users]]\nname = \"" + name + "\"\npassword_hash = \"" + string(h) + "\"\n")
	}
	b.WriteString(extra)
	return b.String()
}

func (f *reloadFixture) write(t *testing.T, content string) {
	t.Helper()
	if err := os.WriteFile(f.path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// commonName is the subject of the certificate the listener serves now.
func (f *reloadFixture) commonName(t *testing.T) string {
	t.Helper()
	c, err := f.live.cert.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	x, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return x.Subject.CommonName
}

func writeSelfSigned(t *testing.T, certFile, keyFile, cn string) {
	t.Helper()
	smtptest.WriteKeyPair(t, smtptest.NewCA(t).Issue(t, cn, "outbox.test"), certFile, keyFile)
}

func TestReloadRejectsBrokenConfig(t *testing.T) {
	f := newReloadFixture(t)
	good := f.config(t, "first", map[string]string{"app": "app-pw"}, "")
	tests := []struct {
		name    string
		content string
		want    string // in the error
	}{
		{"syntax", good + "[users\n", "toml"},
		{"unknown key", good + "bogus = 1\n", "bogus"},
		{"bad hash", good + "[[users]]\nname = \"ops\"\npassword_hash = \"nope\"\n", "users"},
		{"missing certificate", strings.ReplaceAll(good, "first.pem", "gone.pem"), "tls.cert_file"},
		{"route to an unknown relay", good + "[routes]\n\"example.org\" = \"nowhere\"\n", "nowhere"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.write(t, tt.content)
			err := f.rl.reload()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("reload error = %v, want one naming %q", err, tt.want)
			}
			if err := f.live.users.Authenticate("app", "app-pw"); err != nil {
				t.Errorf("app no longer authenticates: %v", err)
			}
			if err := f.live.users.Authenticate("ops", "ops-pw"); err == nil {
				t.Error("ops authenticates from a rejected file")
			}
			if cn := f.commonName(t); cn != "first" {
				t.Errorf("certificate %q, want the old one", cn)
			}
		})
	}
}

func TestReloadApplies(t *testing.T) {
	f := newReloadFixture(t)
	f.write(t, f.config(t, "second", map[string]string{"ops": "ops-pw"}, "[limits]\nmax_recipients = 7\n"))
	if err := f.rl.reload(); err != nil {
		t.Fatal(err)
	}
	if err := f.live.users.Authenticate("ops", "ops-pw"); err != nil {
		t.Errorf("new user ops: %v", err)
	}
	if err := f.live.users.Authenticate("app", "app-pw"); !errors.Is(err, submission.ErrBadCredentials) {
		t.Errorf("removed user app: %v, want ErrBadCredentials", err)
	}
	if cn := f.commonName(t); cn != "second" {
		t.Errorf("certificate %q, want the new one", cn)
	}
	log := f.log.String()
	if !strings.Contains(log, "key=limits.max_recipients") || !strings.Contains(log, "configuration reloaded") {
		t.Errorf("log:\n%s", log)
	}
	if strings.Contains(log, "ops-pw") || strings.Contains(log, "$2a$") {
		t.Errorf("a secret reached the log:\n%s", log)
	}

	// Every user removed: nobody can log in any more.
	f.write(t, f.config(t, "second", nil, ""))
	if err := f.rl.reload(); err != nil {
		t.Fatal(err)
	}
	if err := f.live.users.Authenticate("ops", "ops-pw"); err == nil {
		t.Error("ops still authenticates after removal")
	}
}

func TestLiveApplyNeedsRestart(t *testing.T) {
	cert := &tls.Certificate{}
	users, err := submission.NewUsers(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		started  *settings
		next     *settings
		wantKeys []string
	}{
		{"same shape", &settings{users: users, cert: cert}, &settings{users: users, cert: cert}, nil},
		{"first user", &settings{}, &settings{users: users}, []string{"users"}},
		{"tls added", &settings{}, &settings{cert: cert}, []string{"tls"}},
		{"tls removed", &settings{cert: cert}, &settings{}, []string{"tls"}},
		{"users removed", &settings{users: users}, &settings{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			del := delivery.New(delivery.Options{})
			defer del.Shutdown(context.Background())
			l := newLive(tt.started, del)
			got := l.apply(tt.next)
			var keys []string
			for _, k := range got {
				keys = append(keys, strings.Fields(k)[0])
			}
			if !slices.Equal(keys, tt.wantKeys) {
				t.Errorf("apply = %q, want keys %q", got, tt.wantKeys)
			}
			if tt.started.cert != nil {
				if c, _ := l.cert.GetCertificate(nil); c == nil {
					t.Error("the certificate was dropped")
				}
			}
		})
	}
}

// TestReloadRoutes: routes and relays from a reload are the ones the
// deliverer reports (Routes) and the ones its next delivery takes.
func TestReloadRoutes(t *testing.T) {
	f := newReloadFixture(t)
	relay := smtptest.Start(t, smtptest.Options{Addr: "127.0.0.1:0", Domain: "relay.test"})
	host, port, err := net.SplitHostPort(relay.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if routes, relays := f.live.del.Routes(); len(routes) != 0 || len(relays) != 0 {
		t.Fatalf("routes before the reload = %v %v, want none", routes, relays)
	}
	f.write(t, f.config(t, "first", map[string]string{"app": "app-pw"},
		"[relay.smarthost]\n[[relay.smarthost.server]]\nhost = \""+host+"\"\nport = "+port+"\ntls = \"none\"\n"+
			"[routes]\n\"example.org\" = \"smarthost\"\n"))
	if err := f.rl.reload(); err != nil {
		t.Fatal(err)
	}
	routes, relays := f.live.del.Routes()
	if routes["example.org"] != "smarthost" || len(relays["smarthost"]) != 1 || relays["smarthost"][0].Host != host {
		t.Fatalf("routes after the reload = %v %v, want example.org via smarthost", routes, relays)
	}
	body := "Subject: routed\r\n\r\nhi\r\n"
	res := f.live.del.Deliver(context.Background(), &delivery.Envelope{
		MsgID: "m1", From: "app@outbox.test", Domain: "example.org", Rcpts: []string{"a@example.org"},
		Body: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil },
		Size: int64(len(body)),
	})
	if got := res.Rcpts[0].Status; got != delivery.Delivered {
		t.Fatalf("delivery after the reload: %v (%+v), want delivered through the new relay", got, res.Rcpts[0])
	}
	if msgs := relay.Messages(); len(msgs) != 1 || msgs[0].Rcpts[0] != "a@example.org" {
		t.Errorf("the relay received %d messages, want 1", len(msgs))
	}
}
