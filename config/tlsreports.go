package config

import "net/mail"

// TLSReports configures SMTP TLS reporting (RFC 8460): the TLS result of
// every delivery session is counted per recipient (policy) domain, and
// each day the domains that publish a "_smtp._tls" TXT record get the
// aggregate report of the day before, by mail through the queue or by
// HTTPS POST. The schedule is cron.tls_reports.
type TLSReports struct {
	// Enabled turns counting and sending on. Default: false: a report
	// tells a third party about our traffic (counts, our IP addresses,
	// its failures), mailed reports must be DKIM-signed by the reporting
	// domain (RFC 8460 §5.3), and every report is outbound mail the
	// operator should expect; so it is the operator's choice.
	Enabled bool `toml:"enabled"`
	// From is the address reports are mailed from (header and envelope).
	// Sign its domain with a [[dkim.domain]]. Default: "" meaning
	// "postmaster@" followed by hostname.
	From string `toml:"from"`
	// Organization is the report's organization-name. Default: "" meaning
	// hostname.
	Organization string `toml:"organization"`
	// Contact is the report's contact-info. Default: "" meaning From.
	Contact string `toml:"contact"`
}

func (c *Config) validateTLSReports(ps *problems) {
	if f := c.TLSReports.From; f != "" {
		if _, err := mail.ParseAddress(f); err != nil {
			ps.add("tls_reports.from", "%q is not an email address: %v", f, err)
		}
	}
}
