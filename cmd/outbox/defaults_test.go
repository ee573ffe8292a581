package main

import (
	"testing"

	"github.com/outbox-mta/outbox/config"
	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/mxresolve"
	"github.com/outbox-mta/outbox/queue"
	"github.com/outbox-mta/outbox/queue/httpapi"
	"github.com/outbox-mta/outbox/queue/submission"
	"github.com/outbox-mta/outbox/store"
)

// TestPackageDefaultsMatchConfig pins every package default that has a
// configuration key to config's default, so config stays the single source:
// a package used without config (a test, outbox-bench) behaves as the
// daemon does with an empty configuration file.
func TestPackageDefaultsMatchConfig(t *testing.T) {
	c := config.Default()
	l, d := c.Limits, c.Delivery
	dt := delivery.DefaultTimeouts()
	tests := []struct {
		key           string
		pkg, fromConf any
	}{
		{"spool.lock_timeout", store.DefaultLockTimeout, c.Spool.LockTimeout.Duration},

		{"limits.max_message_size", int64(submission.DefaultMaxMessageSize), l.MaxMessageSize.Bytes},
		{"limits.max_recipients", submission.DefaultMaxRecipients, l.MaxRecipients},
		{"limits.max_connections", submission.DefaultMaxConnections, l.MaxConnections},
		{"limits.reserved_connections", submission.DefaultMaxConnections / 10, l.ReservedConnections},
		{"limits.max_connections_per_client", submission.DefaultPerClient, l.MaxConnectionsPerClient},
		{"limits.connection_rate", submission.DefaultConnectionRate, l.ConnectionRate},
		{"limits.connection_rate_window", submission.DefaultRateWindow, l.ConnectionRateWindow.Duration},
		{"limits.pre_auth_timeout", submission.DefaultPreAuthTimeout, l.PreAuthTimeout.Duration},
		{"limits.max_junk_commands", submission.DefaultMaxJunkCommands, l.MaxJunkCommands},
		{"limits.read_timeout", submission.DefaultReadTimeout, l.ReadTimeout.Duration},
		{"limits.write_timeout", submission.DefaultWriteTimeout, l.WriteTimeout.Duration},
		{"limits.data_timeout", submission.DefaultDataTimeout, l.DataTimeout.Duration},
		{"limits.max_auth_failures", submission.DefaultAuthMaxFailures, l.MaxAuthFailures},
		{"limits.auth_failure_window", submission.DefaultAuthFailureWindow, l.AuthFailureWindow.Duration},
		{"limits.max_hold (SMTP)", submission.DefaultMaxHold, l.MaxHold.Duration},
		{"limits.max_hold (HTTP)", httpapi.DefaultMaxHold, l.MaxHold.Duration},

		{"delivery.max_connections (queue workers)", queue.DefaultWorkers, d.MaxConnections},
		{"delivery.first_retry", queue.DefaultFirstRetry, d.FirstRetry.Duration},
		{"delivery.max_retry_interval", queue.DefaultMaxRetryInterval, d.MaxRetryInterval.Duration},
		{"delivery.max_lifetime", queue.DefaultMaxLifetime, d.MaxLifetime.Duration},

		{"delivery.max_connections (deliverer)", delivery.DefaultMaxConns, d.MaxConnections},
		{"delivery.max_per_destination", delivery.DefaultMaxPerDestination, d.MaxPerDestination},
		{"delivery.max_messages_per_connection", delivery.DefaultMaxMessagesPerConn, d.MaxMessagesPerConnection},
		{"delivery.max_recipients_per_transaction", delivery.DefaultMaxRcptsPerTx, d.MaxRecipientsPerTransaction},
		{"delivery.idle_timeout", delivery.DefaultIdleTimeout, d.IdleTimeout.Duration},
		{"delivery.port", delivery.DefaultPort, d.Port},
		{"delivery.timeouts.connect", dt.Connect, d.Timeouts.Connect.Duration},
		{"delivery.timeouts.tls_handshake", dt.TLSHandshake, d.Timeouts.TLSHandshake.Duration},
		{"delivery.timeouts.greeting", dt.Greeting, d.Timeouts.Greeting.Duration},
		{"delivery.timeouts.command", dt.Command, d.Timeouts.Command.Duration},
		{"delivery.timeouts.mail", dt.Mail, d.Timeouts.Mail.Duration},
		{"delivery.timeouts.rcpt", dt.Rcpt, d.Timeouts.Rcpt.Duration},
		{"delivery.timeouts.data", dt.Data, d.Timeouts.Data.Duration},
		{"delivery.timeouts.data_block", dt.DataBlock, d.Timeouts.DataBlock.Duration},
		{"delivery.timeouts.final_dot", dt.FinalDot, d.Timeouts.FinalDot.Duration},

		{"delivery.max_hosts", mxresolve.DefaultMaxHosts, d.MaxHosts},
		{"delivery.dns_cache_size", mxresolve.DefaultCacheSize, d.DNSCacheSize},
		{"delivery.dns_cache_max_ttl", mxresolve.DefaultCacheMaxTTL, d.DNSCacheMaxTTL.Duration},
		{"delivery.dns_cache_negative_max_ttl", mxresolve.DefaultCacheNegativeMaxTTL, d.DNSCacheNegativeMaxTTL.Duration},
	}
	for _, tt := range tests {
		// Both sides must also agree in type (int, int64, time.Duration).
		if tt.pkg != tt.fromConf {
			t.Errorf("%s: package default %v, config default %v", tt.key, tt.pkg, tt.fromConf)
		}
	}
}
