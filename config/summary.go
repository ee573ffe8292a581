package config

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
)

// Setting is one effective value, for `outbox config check` and the
// start-up log line.
type Setting struct {
	Key   string
	Value string
}

// Summary lists the effective values an operator wants to see, in file
// order. Secrets never appear: users are listed by name, relay passwords
// only as "password set".
func (c *Config) Summary() []Setting {
	var s summary
	c.summaryServer(&s)
	c.summaryDelivery(&s)
	c.summaryRoutes(&s)
	c.summaryDKIM(&s)
	if c.TLSReports.Enabled {
		s.add("tls_reports", "on, schedule "+strconv.Quote(c.Cron.TLSReports))
	}
	s.add("log", fmt.Sprintf("format %s, level %s", c.Log.Format, c.Log.Level))
	for _, w := range c.Webhooks {
		types := "all events"
		if len(w.Events) > 0 {
			types = strings.Join(w.Events, ", ")
		}
		s.add("webhooks."+w.Name, fmt.Sprintf("%s (%s; retry_for %s, timeout %s)", redactURL(w.URL), types, w.RetryFor, w.Timeout))
	}
	return s
}

// summary collects Settings in the order they are added.
type summary []Setting

func (s *summary) add(key string, v any) {
	*s = append(*s, Setting{Key: key, Value: fmt.Sprint(v)})
}

// orNone shows an empty value as "(none)".
func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// summaryServer adds the settings of the accepting side: identity, spool,
// admin socket, listeners, users and the client limits.
func (c *Config) summaryServer(s *summary) {
	s.add("hostname", c.Hostname)
	s.add("trusted_networks", orNone(strings.Join(formatPrefixes(c.TrustedNetworks), ", ")))
	s.add("spool.dir", c.Spool.Dir)
	s.add("spool.retention", c.Spool.Retention)
	s.add("spool.backend", c.Spool.Backend)
	if c.Spool.Backend == BackendPostgres {
		s.add("spool.postgres_url", PostgresTarget(c.Spool.PostgresURL)) // never the password
	}
	s.add("admin.socket", c.Admin.Socket)
	s.add("admin.group", orNone(c.Admin.Group))
	s.add("admin.read_only_group", orNone(c.Admin.ReadOnlyGroup))
	for i, l := range c.Listen.Submission {
		s.add(fmt.Sprintf("listen.submission[%d]", i), l.Address+" "+l.Mode)
	}
	s.add("tls.cert_file", orNone(c.TLS.CertFile))
	names := make([]string, len(c.Users))
	for i, u := range c.Users {
		names[i] = u.Name
	}
	s.add("users", orNone(strings.Join(names, ", ")))
	l := c.Limits
	s.add("limits", fmt.Sprintf("max_message_size %s, max_recipients %d, max_connections %d, read/write/data timeouts %s/%s/%s, max_auth_failures %d per %s",
		l.MaxMessageSize, l.MaxRecipients, l.MaxConnections, l.ReadTimeout, l.WriteTimeout, l.DataTimeout, l.MaxAuthFailures, l.AuthFailureWindow))
	s.add("limits.clients", fmt.Sprintf("reserved_connections %d, per client %d and %d per %s, preauth_timeout %s, max_junk_commands %d",
		l.ReservedConnections, l.MaxConnectionsPerClient, l.ConnectionRate, l.ConnectionRateWindow, l.PreAuthTimeout, l.MaxJunkCommands))
}

// summaryDelivery adds the [delivery] settings and traffic shaping.
func (c *Config) summaryDelivery(s *summary) {
	d := c.Delivery
	warn := "off"
	if d.DelayWarning.Duration > 0 {
		warn = d.DelayWarning.String()
	}
	resolver := d.Resolver
	if resolver == "" {
		resolver = "system (/etc/resolv.conf)"
	}
	s.add("delivery", fmt.Sprintf("at_least_one %t, dsn %t, delay_warning %s, max_connections %d, max_per_destination %d",
		d.AtLeastOne, d.DSN, warn, d.MaxConnections, d.MaxPerDestination))
	s.add("delivery.retry", fmt.Sprintf("first %s, max interval %s, lifetime %s", d.FirstRetry, d.MaxRetryInterval, d.MaxLifetime))
	if d.DNSSECValidating {
		resolver += " (DNSSEC-validating: DANE on)"
	}
	s.add("delivery.resolver", resolver)
	dnsCache := "off"
	if d.DNSCacheSize > 0 {
		dnsCache = fmt.Sprintf("%d entries, TTL %s-%s, negative %s-%s", d.DNSCacheSize,
			d.DNSCacheMinTTL, d.DNSCacheMaxTTL, d.DNSCacheNegativeMinTTL, d.DNSCacheNegativeMaxTTL)
	}
	s.add("delivery.dns_cache", dnsCache)
	rules := make([]string, 0, len(c.Shaping))
	for _, r := range c.Shaping {
		rules = append(rules, r.Name)
	}
	s.add("delivery.shaping", fmt.Sprintf("rules [%s], presets %t, %d throttle replies before the built-in table, recovery step %s",
		strings.Join(rules, " "), d.ShapingPresets, len(c.ThrottleReplies), d.ThrottleRecovery))
	s.add("delivery.port", d.Port)
	s.add("delivery.tls_policy", d.TLSPolicy)
	for _, dom := range sortedKeys(d.DomainTLSPolicies) {
		s.add("delivery.tls_policies."+keyPart(dom), d.DomainTLSPolicies[dom])
	}
}

// summaryRoutes adds the relays, with credentials shown only as "password
// set", and the per-domain routes.
func (c *Config) summaryRoutes(s *summary) {
	for _, name := range sortedKeys(c.Relays) {
		for i, srv := range c.Relays[name].Servers {
			v := fmt.Sprintf("%s tls %s, tls_policy %s", srv.Host+":"+strconv.Itoa(srv.Port), srv.TLS, srv.TLSPolicy)
			if srv.Username != "" {
				v += ", auth as " + srv.Username + " (password set)"
			}
			if srv.ClientCert != "" {
				v += ", client certificate " + srv.ClientCert
			}
			if srv.CAFile != "" {
				v += ", CA " + srv.CAFile
			}
			s.add(fmt.Sprintf("relay.%s.server[%d]", keyPart(name), i), v)
		}
	}
	if len(c.Routes) == 0 {
		s.add("routes", "(none: every domain direct to MX)")
	}
	for _, dom := range sortedKeys(c.Routes) {
		s.add("routes."+keyPart(dom), c.Routes[dom])
	}
}

// summaryDKIM adds each signing domain with its selectors and key paths,
// never the keys.
func (c *Config) summaryDKIM(s *summary) {
	if len(c.DKIM.Domains) == 0 {
		s.add("dkim", "(none: mail leaves unsigned)")
	}
	for _, d := range c.DKIM.Domains {
		sels := make([]string, len(d.Keys))
		for i, k := range d.Keys {
			sels[i] = k.Selector + " " + k.KeyFile // the path, never the key
		}
		s.add("dkim."+d.Domain, "selectors "+strings.Join(sels, ", "))
	}
	if c.DKIM.FallbackDomain != "" {
		s.add("dkim.fallback_domain", c.DKIM.FallbackDomain)
	}
}

// WriteSummary writes Summary as aligned "key  value" lines.
func (c *Config) WriteSummary(w io.Writer) error {
	s := c.Summary()
	width := 0
	for _, kv := range s {
		width = max(width, len(kv.Key))
	}
	var b strings.Builder
	for _, kv := range s {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, kv.Key, kv.Value)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// LogValue implements slog.LogValuer: the Summary as a group, so that
// serve logs its effective configuration in one line.
func (c *Config) LogValue() slog.Value {
	s := c.Summary()
	attrs := make([]slog.Attr, len(s))
	for i, kv := range s {
		attrs[i] = slog.String(kv.Key, kv.Value)
	}
	return slog.GroupValue(attrs...)
}
