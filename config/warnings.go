package config

import "strings"

// Warnings lists settings that are valid but likely wrong: the daemon
// starts with them, and `outbox serve` and `outbox config check` say so.
//
// A hostname that is not a fully qualified domain name goes into EHLO,
// Message-IDs and sendmail's default sender; RFC 5321 §4.1.1.1 asks for
// the client's FQDN in EHLO, and many receiving MX hosts refuse a bare
// name ("vm", "localhost").
func (c *Config) Warnings() []Problem {
	var ps problems
	if h := strings.TrimSuffix(c.Hostname, "."); h != "" && !isFQDN(h) {
		ps.add("hostname", "%q is not a fully qualified domain name; it is sent in EHLO and used in Message-IDs and sendmail's default sender, and receiving MX hosts may refuse it (RFC 5321 §4.1.1.1): set hostname to this host's public name, e.g. \"mail.example.com\"", c.Hostname)
	}
	return ps
}

// isFQDN reports whether h has at least two labels and is not a name
// that only this host understands.
func isFQDN(h string) bool {
	h = strings.ToLower(h)
	if !strings.Contains(h, ".") {
		return false
	}
	return h != "localhost.localdomain" && !strings.HasSuffix(h, ".localhost") && !strings.HasSuffix(h, ".local")
}
