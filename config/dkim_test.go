package config

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeKey(t *testing.T, dir, name string, key any, pkcs1 bool, mode os.FileMode) string {
	t.Helper()
	var block *pem.Block
	if pkcs1 {
		block = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key.(*rsa.PrivateKey))}
	} else {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(block), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDKIMConfig: good keys load (with Signer set); each broken [dkim]
// gives the error text the user must see.
func TestDKIMConfig(t *testing.T) {
	dir := t.TempDir()
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	// Go refuses RSA keys under 1024 bits unless told otherwise; such a
	// key must still get Outbox's own explanation.
	t.Setenv("GODEBUG", "rsa1024min=0")
	tiny, err := rsa.GenerateKey(rand.Reader, 512)
	if err != nil {
		t.Fatal(err)
	}
	good := writeKey(t, dir, "ed.key", ed, false, 0o600)
	group := writeKey(t, dir, "group.key", ed, false, 0o640)
	world := writeKey(t, dir, "world.key", ed, false, 0o644)
	rsa1024 := writeKey(t, dir, "rsa1024.key", small, true, 0o600)
	rsa512 := writeKey(t, dir, "rsa512.key", tiny, false, 0o600)
	notPEM := filepath.Join(dir, "junk.key")
	os.WriteFile(notPEM, []byte("not a key"), 0o600)
	cert := filepath.Join(dir, "cert.key")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), 0o600)

	domain := func(name, extra, file string) string {
		return fmt.Sprintf("[[dkim.domain]]\ndomain = %q\n%s\n[[dkim.domain.key]]\nselector = \"s1\"\nkey_file = %q\n", name, extra, file)
	}
	tests := []struct {
		name, doc, want string
	}{
		{"ok", domain("example.com", "", good), ""},
		{"group readable ok", domain("example.com", `expiry = "30d"`, group), ""},
		{"fallback ok", "[dkim]\nfallback_domain = \"Example.com\"\n" + domain("example.com", "", good), ""},
		{"world readable", domain("example.com", "", world), "dkim.domain[0].key[0].key_file: " + world + " is accessible to other users (mode 0644)"},
		{"rsa 1024", domain("example.com", "", rsa1024), "RSA key of 1024 bits is too small (RFC 8301 §3.2: signers use at least 2048 bits)"},
		{"rsa 512", domain("example.com", "", rsa512), "verifiers ignore RSA keys under 1024 bits"},
		{"not pem", domain("example.com", "", notPEM), "is not a PEM private key"},
		{"certificate", domain("example.com", "", cert), `holds a "CERTIFICATE" PEM block`},
		{"missing file", domain("example.com", "", filepath.Join(dir, "nope")), "dkim.domain[0].key[0].key_file: no such file"},
		{"no From", domain("example.com", `headers = ["To", "Subject"]`, good), "dkim.domain[0].headers: must include From"},
		{"bad header", domain("example.com", `headers = ["From", "Bad Name"]`, good), `"Bad Name" is not a header field name`},
		{"short expiry", domain("example.com", `expiry = "1d"`, good), "dkim.domain[0].expiry: 1d is shorter than delivery.max_lifetime"},
		{"upper case", domain("Example.com", "", good), "write the domain in lower case"},
		{"twice", domain("example.com", "", good) + domain("example.com", "", good), "dkim.domain[1].domain: example.com is listed twice"},
		{"no key", "[[dkim.domain]]\ndomain = \"example.com\"\n", "dkim.domain[0].key: at least one"},
		{"bad selector", strings.Replace(domain("example.com", "", good), `"s1"`, `"s 1"`, 1), `"s 1" is not a selector`},
		{"fallback unknown", "[dkim]\nfallback_domain = \"other.org\"\n" + domain("example.com", "", good), "dkim.fallback_domain: other.org is not one of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "outbox.toml")
			os.WriteFile(path, []byte(tt.doc), 0o600)
			c, err := Load(path)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				k := c.DKIM.Domains[0].Keys[0]
				if k.Signer == nil || c.DKIM.Domains[0].Headers != nil {
					t.Errorf("loaded %+v", c.DKIM.Domains[0])
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load: %v\nwant %q", err, tt.want)
			}
		})
	}
}
