package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// maxSocketPath is the longest Unix socket path: sun_path holds 108 bytes
// on Linux, including the terminating NUL.
const maxSocketPath = 107

// Validate checks every value and cross-reference of c, and that the files
// it names exist and are readable. It reports every problem at once as a
// *ValidationError, each naming its key. Load calls it; call it yourself
// only on a Config built in code.
func (c *Config) Validate() error {
	var ps problems
	c.validate(&ps)
	return ps.err("")
}

func (c *Config) validate(ps *problems) {
	if c.Hostname == "" {
		ps.add("hostname", "not set, and the system host name is unknown")
	} else if !validHostname(c.Hostname) {
		ps.add("hostname", "%q is not a valid host name", c.Hostname)
	}
	// An empty TrustedNetworks is valid: every client must then authenticate.
	c.validateSpool(ps)
	c.validateSubmission(ps)
	c.validateDelivery(ps)
	c.validateRelays(ps)
	c.validateRoutes(ps)
	c.validateMetrics(ps)
	c.validateLog(ps)
	c.validateAPI(ps)
	c.validateSuppression(ps)
	c.validateCron(ps)
	c.validateTLSReports(ps)
	c.validateDKIM(ps)
	c.validateWebhooks(ps)
}

func (c *Config) validateSpool(ps *problems) {
	if c.Spool.Dir == "" {
		ps.add("spool.dir", "must not be empty")
	}
	positive(ps, "spool.lock_timeout", c.Spool.LockTimeout)
	positive(ps, "spool.retention", c.Spool.Retention)
	positive(ps, "spool.bounce_retention", c.Spool.BounceRetention)
	positive(ps, "spool.event_retention", c.Spool.EventRetention)
	c.validateBackend(ps)
	switch s := c.Admin.Socket; {
	case s == "":
		ps.add("admin.socket", "must not be empty")
	case len(s) > maxSocketPath:
		ps.add("admin.socket", "path is %d bytes long; a Unix socket path must be at most %d (use a shorter path)", len(s), maxSocketPath)
	}
}

func (c *Config) validateSubmission(ps *problems) {
	hasCert := c.TLS.CertFile != "" || c.TLS.KeyFile != ""
	switch {
	case c.TLS.CertFile != "" && c.TLS.KeyFile == "":
		ps.add("tls.key_file", "must be set when tls.cert_file is")
	case c.TLS.KeyFile != "" && c.TLS.CertFile == "":
		ps.add("tls.cert_file", "must be set when tls.key_file is")
	}
	readable(ps, "tls.cert_file", c.TLS.CertFile)
	readable(ps, "tls.key_file", c.TLS.KeyFile)

	seen := map[string]string{}
	for i, l := range c.Listen.Submission {
		key := fmt.Sprintf("listen.submission[%d]", i)
		if msg := checkHostPort(l.Address, true); msg != "" {
			ps.add(key+".address", "%s", msg)
		} else if prev, dup := seen[l.Address]; dup {
			ps.add(key+".address", "%q is also the address of %s", l.Address, prev)
		} else {
			seen[l.Address] = key
		}
		switch l.Mode {
		case ModeStartTLS:
		case ModeTLS:
			if !hasCert {
				ps.add(key+".mode", `"tls" needs a certificate: set tls.cert_file and tls.key_file`)
			}
		default:
			ps.add(key+".mode", `must be "starttls" or "tls", not %q`, l.Mode)
		}
	}

	names := map[string]int{}
	for i, u := range c.Users {
		key := fmt.Sprintf("users[%d]", i)
		switch {
		case u.Name == "":
			ps.add(key+".name", "must not be empty")
		case strings.ContainsAny(u.Name, "\x00\r\n"):
			ps.add(key+".name", "must not contain NUL, CR or LF")
		default:
			if j, dup := names[u.Name]; dup {
				ps.add(key+".name", "user %q is also users[%d]", u.Name, j)
			}
			names[u.Name] = i
		}
		if u.PasswordHash == "" {
			ps.add(key+".password_hash", "must be set (print one with `outbox passwd`)")
		} else if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			ps.add(key+".password_hash", "not a bcrypt hash (print one with `outbox passwd`)")
		}
		switch u.Priority {
		case "", "high", "normal", "bulk":
		default:
			ps.add(key+".priority", "%q: want high, normal or bulk", u.Priority)
		}
		for j, p := range u.AllowedSenders {
			if msg := checkSenderPattern(p); msg != "" {
				ps.add(fmt.Sprintf("%s.allowed_senders[%d]", key, j), "%q: %s", p, msg)
			}
		}
	}

	l := c.Limits
	positiveSize(ps, "limits.max_message_size", l.MaxMessageSize)
	atLeast(ps, "limits.max_recipients", l.MaxRecipients, 1)
	atLeast(ps, "limits.max_connections", l.MaxConnections, 1)
	atLeast(ps, "limits.reserved_connections", l.ReservedConnections, 1)
	if l.ReservedConnections >= l.MaxConnections && l.MaxConnections >= 1 {
		ps.add("limits.reserved_connections", "must be below limits.max_connections (%d), or untrusted clients could never connect", l.MaxConnections)
	}
	atLeast(ps, "limits.max_connections_per_client", l.MaxConnectionsPerClient, 1)
	atLeast(ps, "limits.connection_rate", l.ConnectionRate, 1)
	positive(ps, "limits.connection_rate_window", l.ConnectionRateWindow)
	positive(ps, "limits.preauth_timeout", l.PreAuthTimeout)
	atLeast(ps, "limits.max_junk_commands", l.MaxJunkCommands, 1)
	positive(ps, "limits.read_timeout", l.ReadTimeout)
	positive(ps, "limits.write_timeout", l.WriteTimeout)
	positive(ps, "limits.data_timeout", l.DataTimeout)
	atLeast(ps, "limits.max_auth_failures", l.MaxAuthFailures, 1)
	positive(ps, "limits.auth_failure_window", l.AuthFailureWindow)
	positive(ps, "limits.shutdown_timeout", l.ShutdownTimeout)
	if msg := l.MaxHold.check(true); msg != "" {
		ps.add("limits.max_hold", "%s", msg)
	}
}

func (c *Config) validateDelivery(ps *problems) {
	d := c.Delivery
	if msg := d.DelayWarning.check(true); msg != "" {
		ps.add("delivery.delay_warning", "%s", msg)
	}
	atLeast(ps, "delivery.max_connections", d.MaxConnections, 1)
	atLeast(ps, "delivery.max_per_destination", d.MaxPerDestination, 1)
	atLeast(ps, "delivery.max_hosts", d.MaxHosts, 1)
	atLeast(ps, "delivery.max_messages_per_connection", d.MaxMessagesPerConnection, 1)
	atLeast(ps, "delivery.max_recipients_per_transaction", d.MaxRecipientsPerTransaction, 1)
	positive(ps, "delivery.idle_timeout", d.IdleTimeout)
	okFirst := positive(ps, "delivery.first_retry", d.FirstRetry)
	okMax := positive(ps, "delivery.max_retry_interval", d.MaxRetryInterval)
	okLife := positive(ps, "delivery.max_lifetime", d.MaxLifetime)
	if okFirst && okMax && d.MaxRetryInterval.Duration < d.FirstRetry.Duration {
		ps.add("delivery.max_retry_interval", "%s is shorter than delivery.first_retry (%s)", d.MaxRetryInterval, d.FirstRetry)
	}
	if okFirst && okLife && d.MaxLifetime.Duration <= d.FirstRetry.Duration {
		ps.add("delivery.max_lifetime", "%s leaves no time for a retry after delivery.first_retry (%s)", d.MaxLifetime, d.FirstRetry)
	}
	if okLife && d.DelayWarning.Duration >= d.MaxLifetime.Duration {
		ps.add("delivery.delay_warning", "%s is not shorter than delivery.max_lifetime (%s): it would never be sent", d.DelayWarning, d.MaxLifetime)
	}
	if d.Resolver != "" {
		if ap, err := netip.ParseAddrPort(d.Resolver); err != nil || ap.Port() == 0 {
			ps.add("delivery.resolver", "%q is not ip:port (e.g. \"127.0.0.53:53\", \"[::1]:53\")", d.Resolver)
		}
	}
	c.validateDNSCache(ps)
	c.validateShaping(ps)
	port(ps, "delivery.port", d.Port)
	port(ps, "delivery.mta_sts_port", d.MTASTSPort)
	if d.CAFile != "" {
		readable(ps, "delivery.ca_file", d.CAFile)
	}
	if d.ExtraCAFile != "" {
		readable(ps, "delivery.extra_ca_file", d.ExtraCAFile)
	}
	tlsPolicy(ps, "delivery.tls_policy", d.TLSPolicy)
	for _, dom := range sortedKeys(d.DomainTLSPolicies) {
		key := "delivery.tls_policies." + keyPart(dom)
		if msg := checkDomain(dom, false); msg != "" {
			ps.add(key, "%s", msg)
		}
		tlsPolicy(ps, key, d.DomainTLSPolicies[dom])
	}
	t := d.Timeouts
	for _, f := range []struct {
		key string
		d   Duration
	}{
		{"connect", t.Connect}, {"tls_handshake", t.TLSHandshake}, {"greeting", t.Greeting},
		{"command", t.Command}, {"mail", t.Mail}, {"rcpt", t.Rcpt}, {"data", t.Data},
		{"data_block", t.DataBlock}, {"final_dot", t.FinalDot},
	} {
		positive(ps, "delivery.timeouts."+f.key, f.d)
	}
}

// validateDNSCache checks the cache's size and that each floor is below
// its ceiling.
func (c *Config) validateDNSCache(ps *problems) {
	d := c.Delivery
	atLeast(ps, "delivery.dns_cache_size", d.DNSCacheSize, 0)
	for _, b := range []struct {
		prefix   string
		min, max Duration
	}{
		{"delivery.dns_cache_", d.DNSCacheMinTTL, d.DNSCacheMaxTTL},
		{"delivery.dns_cache_negative_", d.DNSCacheNegativeMinTTL, d.DNSCacheNegativeMaxTTL},
	} {
		okMin := b.min.check(true) == ""
		if !okMin {
			ps.add(b.prefix+"min_ttl", "%s", b.min.check(true))
		}
		okMax := positive(ps, b.prefix+"max_ttl", b.max)
		if okMin && okMax && b.min.Duration > b.max.Duration {
			ps.add(b.prefix+"min_ttl", "%s is longer than %smax_ttl (%s)", b.min, b.prefix, b.max)
		}
	}
}

func (c *Config) validateRelays(ps *problems) {
	for _, name := range sortedKeys(c.Relays) {
		rkey := "relay." + keyPart(name)
		if strings.EqualFold(name, Direct) {
			ps.add(rkey, "%q is reserved for direct MX delivery; choose another relay name", name)
		}
		r := c.Relays[name]
		if len(r.Servers) == 0 {
			ps.add(rkey+".server", "a relay needs at least one [[%s.server]]", rkey)
		}
		for i, s := range r.Servers {
			key := fmt.Sprintf("%s.server[%d]", rkey, i)
			if s.Host == "" {
				ps.add(key+".host", "must be set")
			} else if _, err := netip.ParseAddr(s.Host); err != nil && !validHostname(s.Host) {
				ps.add(key+".host", "%q is not a host name or IP address", s.Host)
			}
			port(ps, key+".port", s.Port)
			switch s.TLS {
			case RelayTLSStartTLS, RelayTLSImplicit:
				tlsPolicy(ps, key+".tls_policy", s.TLSPolicy)
				if s.TLS == RelayTLSImplicit && s.TLSPolicy == TLSPolicyNone {
					ps.add(key+".tls_policy", `"none" contradicts tls = "tls" (implicit TLS always encrypts)`)
				}
			case RelayTLSNone:
				if s.TLSPolicy != TLSPolicyNone {
					ps.add(key+".tls_policy", `%q contradicts tls = "none" (leave it out, or set "none")`, s.TLSPolicy)
				}
			default:
				ps.add(key+".tls", `must be "starttls", "tls" or "none", not %q`, s.TLS)
			}
			switch {
			case s.Password != "" && s.PasswordFile != "":
				ps.add(key+".password_file", "set password or password_file, not both")
			case s.Username == "" && (s.Password != "" || s.PasswordFile != ""):
				ps.add(key+".username", "must be set when a password is")
			case s.Username != "" && s.Password == "" && s.PasswordFile == "":
				ps.add(key+".password", "username is set: set password or password_file too")
			}
			switch {
			case s.ClientCert != "" && s.ClientKey == "":
				ps.add(key+".client_key", "must be set when client_cert is")
			case s.ClientKey != "" && s.ClientCert == "":
				ps.add(key+".client_cert", "must be set when client_key is")
			}
			readable(ps, key+".password_file", s.PasswordFile)
			readable(ps, key+".client_cert", s.ClientCert)
			readable(ps, key+".client_key", s.ClientKey)
			readable(ps, key+".ca_file", s.CAFile)
		}
	}
}

func (c *Config) validateRoutes(ps *problems) {
	for _, dom := range sortedKeys(c.Routes) {
		key := "routes." + keyPart(dom)
		if msg := checkDomain(dom, true); msg != "" {
			ps.add(key, "%s", msg)
		}
		to := c.Routes[dom]
		if _, ok := c.Relays[to]; ok || to == Direct {
			continue
		}
		known := append(sortedKeys(c.Relays), Direct)
		ps.add(key, "no relay named %q (known: %s)", to, strings.Join(known, ", "))
	}
}

// positive adds a problem unless d is a valid, strictly positive duration,
// and reports whether it was.
func positive(ps *problems, key string, d Duration) bool {
	if msg := d.check(false); msg != "" {
		ps.add(key, "%s", msg)
		return false
	}
	return true
}

func positiveSize(ps *problems, key string, z Size) {
	if msg := z.check(); msg != "" {
		ps.add(key, "%s", msg)
	}
}

func atLeast(ps *problems, key string, n, min int) {
	if n < min {
		ps.add(key, "must be at least %d (got %d)", min, n)
	}
}

func port(ps *problems, key string, p int) {
	if p < 1 || p > 65535 {
		ps.add(key, "must be a TCP port, 1 to 65535 (got %d)", p)
	}
}

func tlsPolicy(ps *problems, key, p string) {
	switch p {
	case TLSPolicyNone, TLSPolicyOpportunistic, TLSPolicyRequired, TLSPolicyVerify:
		return
	}
	ps.add(key, `must be "none", "opportunistic", "required" or "verify", not %q`, p)
}

// readable adds a problem when path is set but cannot be opened for
// reading as a regular file.
func readable(ps *problems, key, path string) {
	if path == "" {
		return
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		ps.add(key, "no such file: %s", path)
		return
	case err != nil:
		ps.add(key, "%v", err)
		return
	case fi.IsDir():
		ps.add(key, "%s is a directory, not a file", path)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		ps.add(key, "cannot read %s: %v", path, errors.Unwrap(err))
		return
	}
	f.Close()
}

// checkHostPort explains why s is not a listen address host:port, or
// returns "". The host may be empty (every address), an IP or a name;
// port 0 (a free port, for tests) is allowed when zeroPort is set.
func checkHostPort(s string, zeroPort bool) string {
	if s == "" {
		return "must be set, as host:port (e.g. \"127.0.0.1:587\")"
	}
	host, p, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Sprintf("%q is not host:port (e.g. \"127.0.0.1:587\", \"[::1]:587\", \":465\")", s)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil && !validHostname(host) {
			return fmt.Sprintf("%q: %q is not an IP address or host name", s, host)
		}
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 || (n == 0 && !zeroPort) {
		return fmt.Sprintf("%q: port %q is not a number from 1 to 65535", s, p)
	}
	return ""
}

// checkDomain explains why s is not a lower-case domain (or "*" when star
// is allowed), or returns "".
func checkDomain(s string, star bool) string {
	switch {
	case star && s == "*":
		return ""
	case s != strings.ToLower(s):
		return fmt.Sprintf("write the domain in lower case: %q", strings.ToLower(s))
	case !validHostname(s):
		if star {
			return fmt.Sprintf("%q is not a domain or \"*\"", s)
		}
		return fmt.Sprintf("%q is not a domain", s)
	}
	return ""
}

// validHostname reports whether s is a DNS name: dot-separated labels of
// letters, digits and inner hyphens, 63 bytes each, 253 in all; a final
// dot is allowed.
func validHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// checkSenderPattern is the reason an allowed_senders entry is invalid, or
// "": a full address or "*@domain".
func checkSenderPattern(p string) string {
	local, domain, ok := strings.Cut(p, "@")
	switch {
	case !ok || local == "" || domain == "":
		return `want "local@domain" or "*@domain"`
	case strings.ContainsAny(domain, "*@") || (strings.Contains(local, "*") && local != "*"):
		return `"*" may only stand for the whole local part ("*@example.com")`
	}
	return ""
}
