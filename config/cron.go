package config

import "github.com/robfig/cron/v3"

// Cron holds the schedules of the maintenance jobs, as standard five-field
// cron expressions ("minute hour day-of-month month day-of-week") or
// descriptors ("@hourly", "@every 10m"), in the daemon's local time zone.
// An empty schedule disables its job.
type Cron struct {
	// Prune removes messages whose recipients are all final once older
	// than spool.retention, and bounce log rows older than
	// spool.bounce_retention. Default: "17 * * * *" (hourly).
	Prune string `toml:"prune"`
	// DelayWarnings sends the delay notices of delivery.delay_warning (the
	// job does nothing while that is 0). Default: "*/5 * * * *".
	DelayWarnings string `toml:"delay_warnings"`
	// Stats logs the spool statistics, with a compaction hint when the
	// spool file is mostly free space. Default: "@hourly".
	Stats string `toml:"stats"`
	// Sweep reads every pending message and wakes delivery of any that is
	// overdue by more than an hour: a safety net against a lost due-index
	// entry, costly on a big queue. Default: "" (off).
	Sweep string `toml:"sweep"`
	// TLSReports sends the daily TLS reports (RFC 8460) of the days before
	// today (UTC) when tls_reports.enabled is true. Default: "23 0 * * *".
	TLSReports string `toml:"tls_reports"`
}

func (c *Config) validateCron(ps *problems) {
	for _, j := range []struct{ key, spec string }{
		{"cron.prune", c.Cron.Prune},
		{"cron.delay_warnings", c.Cron.DelayWarnings},
		{"cron.stats", c.Cron.Stats},
		{"cron.sweep", c.Cron.Sweep},
		{"cron.tls_reports", c.Cron.TLSReports},
	} {
		if j.spec == "" {
			continue
		}
		if _, err := cron.ParseStandard(j.spec); err != nil {
			ps.add(j.key, "%q is not a cron schedule (\"minute hour dom month dow\" or \"@every 10m\"): %v", j.spec, err)
		}
	}
}
