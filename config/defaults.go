package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Default returns the embedded defaults, the configuration Load("") uses:
// spool in ./outbox-spool, admin socket beside it, one listener on
// 127.0.0.1:587, loopback trusted, direct MX delivery.
//
// Derived values (Hostname from os.Hostname, Admin.Socket from Spool.Dir,
// the default listener) are filled in; a caller that changes Spool.Dir on
// the result must set Admin.Socket too.
func Default() *Config {
	c := defaults()
	c.resolve()
	return c
}

// defaults is the single place where default values are written. Fields
// derived from others, and list entries, are left empty here and filled
// by resolve, so that a file overriding one key does not inherit a value
// computed from another (and TOML arrays of tables decoded over a default
// list would keep the default's fields in their first element).
func defaults() *Config {
	return &Config{
		TrustedNetworks: []netip.Prefix{
			netip.MustParsePrefix("127.0.0.0/8"),
			netip.MustParsePrefix("::1/128"),
		},
		Spool: Spool{
			Dir:             "./outbox-spool",
			LockTimeout:     D(time.Second),
			Retention:       D(7 * 24 * time.Hour),
			BounceRetention: D(30 * 24 * time.Hour),
			EventRetention:  D(30 * 24 * time.Hour),
			Backend:         "bbolt",
			Lease:           D(2 * time.Minute),
		},
		Limits: Limits{
			MaxMessageSize:          Size{Bytes: 25 << 20},
			MaxRecipients:           100,
			MaxConnections:          200,
			ReservedConnections:     20,
			MaxConnectionsPerClient: 20,
			ConnectionRate:          60,
			ConnectionRateWindow:    D(time.Minute),
			PreAuthTimeout:          D(30 * time.Second),
			MaxJunkCommands:         20,
			ReadTimeout:             D(5 * time.Minute),
			WriteTimeout:            D(time.Minute),
			DataTimeout:             D(10 * time.Minute),
			MaxAuthFailures:         5,
			AuthFailureWindow:       D(10 * time.Minute),
			ShutdownTimeout:         D(30 * time.Second),
			MaxHold:                 D(30 * 24 * time.Hour),
		},
		API: API{
			Address:              "127.0.0.1:8587",
			TrustLoopback:        true,
			Rate:                 50,
			Burst:                100,
			IdempotencyRetention: D(24 * time.Hour),
			MaxConnections:       200,
			ReadTimeout:          D(5 * time.Minute),
			WriteTimeout:         D(time.Minute),
			IdleTimeout:          D(2 * time.Minute),
		},
		Delivery: Delivery{
			AtLeastOne:                  true,
			DSN:                         true,
			MaxConnections:              200,
			MaxPerDestination:           20,
			MaxHosts:                    5,
			MaxMessagesPerConnection:    100,
			MaxRecipientsPerTransaction: 50,
			IdleTimeout:                 D(30 * time.Second),
			FirstRetry:                  D(5 * time.Minute),
			MaxRetryInterval:            D(4000 * time.Second),
			MaxLifetime:                 D(5 * 24 * time.Hour),
			Port:                        25,
			TLSPolicy:                   TLSPolicyOpportunistic,
			MTASTS:                      true,
			MTASTSPort:                  443,
			TLSMemory:                   true,
			Timeouts: Timeouts{
				Connect:      D(30 * time.Second),
				TLSHandshake: D(30 * time.Second),
				Greeting:     D(5 * time.Minute),
				Command:      D(5 * time.Minute),
				Mail:         D(5 * time.Minute),
				Rcpt:         D(5 * time.Minute),
				Data:         D(2 * time.Minute),
				DataBlock:    D(3 * time.Minute),
				FinalDot:     D(10 * time.Minute),
			},

			DNSCacheSize:           10000,
			DNSCacheMinTTL:         D(30 * time.Second),
			DNSCacheMaxTTL:         D(time.Hour),
			DNSCacheNegativeMinTTL: D(30 * time.Second),
			DNSCacheNegativeMaxTTL: D(15 * time.Minute),
			ShapingPresets:         true,
			ThrottleRecovery:       D(time.Minute),
		},
		Suppression: Suppression{Enabled: true, AfterExpirations: 3, Expiry: D(30 * 24 * time.Hour)},
		Log:         Log{Format: LogText, Level: "info"},
		Cron: Cron{
			Prune:         "17 * * * *",
			DelayWarnings: "*/5 * * * *",
			Stats:         "@hourly",
			TLSReports:    "23 0 * * *",
		},
	}
}

// Per-entry defaults, applied by resolve.
const (
	defaultListenAddress = "127.0.0.1:587"
	adminSocketName      = "admin.sock"
)

// resolve fills derived and per-entry defaults and normalizes names (lower
// case domains and modes). It never fails: problems are Validate's job.
func (c *Config) resolve() {
	if c.Hostname == "" {
		if h, err := os.Hostname(); err == nil {
			c.Hostname = h
		}
	}
	if c.Admin.Socket == "" && c.Spool.Dir != "" {
		c.Admin.Socket = filepath.Join(c.Spool.Dir, adminSocketName)
	}
	if len(c.Listen.Submission) == 0 {
		c.Listen.Submission = []Listener{{Address: defaultListenAddress}}
	}
	for i := range c.Listen.Submission {
		l := &c.Listen.Submission[i]
		l.Mode = strings.ToLower(l.Mode)
		if l.Mode == "" {
			l.Mode = ModeStartTLS
		}
	}
	c.Delivery.TLSPolicy = strings.ToLower(c.Delivery.TLSPolicy)
	c.Delivery.DomainTLSPolicies = lowerValues(c.Delivery.DomainTLSPolicies)
	// An empty table in the file ([routes] with every entry commented out)
	// means the same as no table.
	if len(c.Routes) == 0 {
		c.Routes = nil
	}
	if len(c.Relays) == 0 {
		c.Relays = nil
	}
	if len(c.Users) == 0 {
		c.Users = nil
	}
	c.resolveWebhooks()
	for name, r := range c.Relays {
		for i := range r.Servers {
			s := &r.Servers[i]
			s.TLS = strings.ToLower(s.TLS)
			if s.TLS == "" {
				s.TLS = RelayTLSStartTLS
			}
			s.TLSPolicy = strings.ToLower(s.TLSPolicy)
			if s.TLSPolicy == "" {
				s.TLSPolicy = TLSPolicyVerify
				if s.TLS == RelayTLSNone {
					s.TLSPolicy = TLSPolicyNone
				}
			}
			if s.Port == 0 {
				switch s.TLS {
				case RelayTLSImplicit:
					s.Port = 465
				case RelayTLSNone:
					s.Port = 25
				case RelayTLSStartTLS:
					s.Port = 587
				}
			}
		}
		c.Relays[name] = r
	}
}

// lowerValues lower-cases the values of m in place and returns it. Keys
// are domains; they are checked (not rewritten) by Validate, which reports
// two spellings of one domain.
func lowerValues(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	for k, v := range m {
		m[k] = strings.ToLower(v)
	}
	return m
}
