package config

import (
	"net"
	"net/netip"
)

// Metrics is the Prometheus endpoint.
type Metrics struct {
	// Address is host:port of the HTTP endpoint serving /metrics (the
	// Prometheus text format). It must be a loopback address
	// ("127.0.0.1:9587", "[::1]:9587") unless AllowNonLoopback is set: the
	// endpoint has no authentication and reveals traffic volumes and
	// destinations' health. Default: "" (no endpoint).
	Address string `toml:"address"`
	// AllowNonLoopback permits a non-loopback Address, for a scraper on
	// another host behind a firewall you control. Default: false.
	AllowNonLoopback bool `toml:"allow_non_loopback"`
}

func (c *Config) validateMetrics(ps *problems) {
	m := c.Metrics
	if m.Address == "" {
		return
	}
	if msg := checkHostPort(m.Address, true); msg != "" {
		ps.add("metrics.address", "%s", msg)
		return
	}
	if m.AllowNonLoopback {
		return
	}
	host, _, _ := net.SplitHostPort(m.Address)
	if a, err := netip.ParseAddr(host); err != nil || !a.IsLoopback() {
		ps.add("metrics.address", "%q is not a loopback address (127.0.0.0/8 or ::1); the endpoint has no authentication: set metrics.allow_non_loopback = true to expose it anyway", m.Address)
	}
}
