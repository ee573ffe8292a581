package integration

import (
	"path/filepath"
	"testing"

	"github.com/outbox-mta/outbox/delivery/smtptest"
)

// testCA is a certificate authority made for one test, and the server
// certificates it issues, written as PEM files in a directory.
type testCA struct {
	ca   *smtptest.CA
	dir  string
	File string // the CA certificate, PEM
}

func newTestCA(t *testing.T, dir string) *testCA {
	t.Helper()
	ca := &testCA{ca: smtptest.NewCA(t), dir: dir, File: filepath.Join(dir, "ca.pem")}
	ca.ca.WriteCA(t, ca.File)
	return ca
}

// issue writes a server certificate for names (DNS names or IPs) and its
// key, returning their paths.
func (ca *testCA) issue(t *testing.T, name string, names ...string) (certFile, keyFile string) {
	t.Helper()
	certFile = filepath.Join(ca.dir, name+".pem")
	keyFile = filepath.Join(ca.dir, name+".key")
	smtptest.WriteKeyPair(t, ca.ca.Issue(t, names...), certFile, keyFile)
	return certFile, keyFile
}
