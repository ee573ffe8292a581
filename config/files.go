package config

import "fmt"

// NamedFile is a file the configuration names and the daemon reads.
type NamedFile struct {
	Key  string // the key naming it, e.g. "tls.key_file"
	Path string
}

// Files lists every file the configuration names, in file order:
// certificates and keys, CA bundles, relay password files and DKIM keys.
// `outbox config check --as USER` checks that the service user can read
// each one.
func (c *Config) Files() []NamedFile {
	var out []NamedFile
	add := func(key, path string) {
		if path != "" {
			out = append(out, NamedFile{Key: key, Path: path})
		}
	}
	add("tls.cert_file", c.TLS.CertFile)
	add("tls.key_file", c.TLS.KeyFile)
	add("delivery.ca_file", c.Delivery.CAFile)
	for _, name := range sortedKeys(c.Relays) {
		for i, s := range c.Relays[name].Servers {
			key := fmt.Sprintf("relay.%s.server[%d]", keyPart(name), i)
			add(key+".password_file", s.PasswordFile)
			add(key+".client_cert", s.ClientCert)
			add(key+".client_key", s.ClientKey)
			add(key+".ca_file", s.CAFile)
		}
	}
	for i, d := range c.DKIM.Domains {
		for j, k := range d.Keys {
			add(fmt.Sprintf("dkim.domain[%d].key[%d].key_file", i, j), k.KeyFile)
		}
	}
	for i, w := range c.Webhooks {
		add(fmt.Sprintf("webhooks[%d].secret_file", i), w.SecretFile)
	}
	return out
}
