package main

import (
	"github.com/outbox-mta/outbox/config"
	"github.com/outbox-mta/outbox/queue"
)

// withSuppressions gives the queue the spool's suppression list as
// [suppression] configures it; a disabled list is neither consulted nor
// taught.
func withSuppressions(o queue.Options, cfg *config.Config, db queue.SuppressionList) queue.Options {
	s := cfg.Suppression
	if !s.Enabled {
		return o
	}
	o.Suppressions = db
	o.SuppressAfterExpirations = s.AfterExpirations
	o.SuppressFor = s.Expiry.Duration
	return o
}
