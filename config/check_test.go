package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery/smtptest"
)

var checkNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// writeKeyPair writes a certificate for localhost valid until notAfter and
// its key as PEM files named name.pem and name.key in dir.
func writeKeyPair(t *testing.T, dir, name string, notAfter time.Time) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	smtptest.WriteKeyPair(t, smtptest.NewCA(t).IssueUntil(t, notAfter, "localhost"), certFile, keyFile)
	return certFile, keyFile
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	goodCert, goodKey := writeKeyPair(t, dir, "good", checkNow.Add(24*time.Hour))
	oldCert, oldKey := writeKeyPair(t, dir, "old", checkNow.Add(-time.Hour))
	_, otherKey := writeKeyPair(t, dir, "other", checkNow.Add(24*time.Hour))
	notPEM := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	aFile := filepath.Join(dir, "a-file")
	if err := os.WriteFile(aFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		setup func(c *Config)
		want  []string
	}{
		{"valid", func(c *Config) {
			c.TLS = TLS{CertFile: goodCert, KeyFile: goodKey}
			c.Relays = map[string]Relay{"p": {Servers: []RelayServer{{Host: "h", ClientCert: goodCert, ClientKey: goodKey, CAFile: goodCert}}}}
			c.Spool.Dir = filepath.Join(dir, "new", "spool") // does not exist yet: creatable
			c.Admin.Socket = filepath.Join(dir, "run", "admin.sock")
		}, nil},
		{"expired certificate", func(c *Config) {
			c.TLS = TLS{CertFile: oldCert, KeyFile: oldKey}
		}, []string{"tls.cert_file: certificate expired on " + checkNow.Add(-time.Hour).Format(time.RFC3339)}},
		{"key of another certificate", func(c *Config) {
			c.TLS = TLS{CertFile: goodCert, KeyFile: otherKey}
		}, []string{"tls.cert_file: cannot load the certificate and key: tls: private key does not match public key"}},
		{"relay client pair and CA not PEM", func(c *Config) {
			c.Relays = map[string]Relay{"p": {Servers: []RelayServer{{Host: "h", ClientCert: notPEM, ClientKey: goodKey, CAFile: notPEM}}}}
		}, []string{
			"relay.p.server[0].client_cert: cannot load the certificate and key: tls: failed to find any PEM data in certificate input",
			"relay.p.server[0].ca_file: no PEM certificate in " + notPEM,
		}},
		{"admin groups unknown", func(c *Config) {
			c.Admin.Group = "no-such-group-outbox"
			c.Admin.ReadOnlyGroup = "root" // known everywhere
		}, []string{"admin.group: group: unknown group no-such-group-outbox"}},
		{"spool dir is a file, socket under a file", func(c *Config) {
			c.Spool.Dir = aFile
			c.Admin.Socket = filepath.Join(aFile, "sub", "admin.sock")
		}, []string{
			"spool.dir: " + aFile + " is not a directory",
			"admin.socket: cannot create " + filepath.Join(aFile, "sub") + ": " + aFile + " is not a directory",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.Spool.Dir = dir
			c.Admin.Socket = filepath.Join(dir, "admin.sock")
			tt.setup(c)
			err := c.Check(checkNow)
			var got []string
			var verr *ValidationError
			if errors.As(err, &verr) {
				for _, p := range verr.Problems {
					got = append(got, p.Error())
				}
			} else if err != nil {
				t.Fatalf("Check: %v, want a *ValidationError", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Check problems:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(tt.want, "\n\t"))
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "new")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Check created the spool directory (stat: %v); it must change nothing", err)
	}
}

func TestCheckUnwritableSpool(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can write in any directory")
	}
	dir := t.TempDir()
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	c := Default()
	c.Spool.Dir = filepath.Join(ro, "spool")
	c.Admin.Socket = filepath.Join(dir, "admin.sock")
	err := c.Check(checkNow)
	want := "spool.dir: cannot create " + c.Spool.Dir + ": " + ro + " is not writable: permission denied"
	var verr *ValidationError
	if !errors.As(err, &verr) || len(verr.Problems) != 1 || verr.Problems[0].Error() != want {
		t.Fatalf("Check = %v, want %q", err, want)
	}
}
