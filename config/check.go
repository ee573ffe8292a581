package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// Check goes beyond Validate for `outbox config check` and start-up: the
// certificate and key pairs load and match, CA files hold certificates,
// the listener certificate has not expired, and the spool directory and
// the admin socket's directory exist or can be created by this user. It
// changes nothing on disk. now is the time certificates are checked at.
//
// Like Validate it returns a *ValidationError listing every problem.
func (c *Config) Check(now time.Time) error {
	var ps problems
	if c.TLS.CertFile != "" && c.TLS.KeyFile != "" {
		checkKeyPair(&ps, "tls.cert_file", c.TLS.CertFile, c.TLS.KeyFile, now)
	}
	if c.Delivery.CAFile != "" {
		checkCAFile(&ps, "delivery.ca_file", c.Delivery.CAFile)
	}
	if c.Delivery.ExtraCAFile != "" {
		checkCAFile(&ps, "delivery.extra_ca_file", c.Delivery.ExtraCAFile)
	}
	for _, name := range sortedKeys(c.Relays) {
		for i, s := range c.Relays[name].Servers {
			key := fmt.Sprintf("relay.%s.server[%d]", keyPart(name), i)
			if s.ClientCert != "" && s.ClientKey != "" {
				checkKeyPair(&ps, key+".client_cert", s.ClientCert, s.ClientKey, now)
			}
			if s.CAFile != "" {
				checkCAFile(&ps, key+".ca_file", s.CAFile)
			}
		}
	}
	if c.Spool.Dir != "" {
		if msg := creatableDir(c.Spool.Dir); msg != "" {
			ps.add("spool.dir", "%s", msg)
		}
	}
	// The socket's directory is checked unless it is the spool directory
	// (the default), already checked above.
	if sockDir := filepath.Dir(c.Admin.Socket); c.Admin.Socket != "" && sockDir != filepath.Clean(c.Spool.Dir) {
		if msg := creatableDir(sockDir); msg != "" {
			ps.add("admin.socket", "%s", msg)
		}
	}
	checkGroup(&ps, "admin.group", c.Admin.Group)
	checkGroup(&ps, "admin.read_only_group", c.Admin.ReadOnlyGroup)
	return ps.err("")
}

// checkGroup reports a group name that the system does not know.
func checkGroup(ps *problems, key, name string) {
	if name == "" {
		return
	}
	if _, err := user.LookupGroup(name); err != nil {
		ps.add(key, "%v", err)
	}
}

func checkKeyPair(ps *problems, key, certFile, keyFile string, now time.Time) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		ps.add(key, "cannot load the certificate and key: %v", err)
		return
	}
	leaf := pair.Leaf
	if leaf == nil { // Go fills Leaf since 1.23; keep working without it
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			ps.add(key, "cannot parse the certificate: %v", err)
			return
		}
	}
	if now.After(leaf.NotAfter) {
		ps.add(key, "certificate expired on %s", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
}

func checkCAFile(ps *problems, key, path string) {
	pem, err := os.ReadFile(path)
	if err != nil {
		ps.add(key, "%v", err)
		return
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		ps.add(key, "no PEM certificate in %s", path)
	}
}

// creatableDir explains why dir is neither a writable directory nor
// creatable by this process, or returns "". It walks up to the nearest
// existing ancestor, which must be a directory this user can write in.
func creatableDir(dir string) string {
	p := filepath.Clean(dir)
	for {
		fi, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR):
			// Walk up; a file in the way is reported when reached.
			parent := filepath.Dir(p)
			if parent == p {
				return fmt.Sprintf("cannot create %s: no existing parent directory", dir)
			}
			p = parent
			continue
		case err != nil:
			return err.Error()
		case !fi.IsDir():
			if p == filepath.Clean(dir) {
				return fmt.Sprintf("%s is not a directory", dir)
			}
			return fmt.Sprintf("cannot create %s: %s is not a directory", dir, p)
		}
		if err := unix.Access(p, unix.W_OK|unix.X_OK); err != nil {
			if p == filepath.Clean(dir) {
				return fmt.Sprintf("%s is not writable: %v", dir, err)
			}
			return fmt.Sprintf("cannot create %s: %s is not writable: %v", dir, p, err)
		}
		return ""
	}
}
