package config

import (
	"net/url"
	"strings"
)

// Spool backends (Spool.Backend).
const (
	BackendBbolt    = "bbolt"
	BackendPostgres = "postgres"
)

// validateBackend checks spool.backend and what it needs.
func (c *Config) validateBackend(ps *problems) {
	s := c.Spool
	switch s.Backend {
	case BackendBbolt:
		// postgres_url may be set ahead of a move (outbox spool migrate).
	case BackendPostgres:
		if s.PostgresURL == "" {
			ps.add("spool.postgres_url", "must be set when spool.backend is %q", BackendPostgres)
		} else if msg := checkPostgresURL(s.PostgresURL); msg != "" {
			ps.add("spool.postgres_url", "%s", msg)
		}
		positive(ps, "spool.lease", s.Lease)
	default:
		ps.add("spool.backend", "is %q; want %q or %q", s.Backend, BackendBbolt, BackendPostgres)
	}
}

// checkPostgresURL reports what is wrong with a postgres:// URL; a libpq
// key=value string is left to the driver. The message never repeats the
// URL, which may carry a password.
func checkPostgresURL(s string) string {
	if !strings.Contains(s, "://") {
		if !strings.Contains(s, "=") {
			return "is neither a postgres:// URL nor a key=value connection string"
		}
		return ""
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "is not a valid URL"
	case u.Scheme != "postgres" && u.Scheme != "postgresql":
		return "must start with postgres:// or postgresql://"
	}
	return ""
}

// PostgresTarget is the part of a postgres URL that may be logged: the
// host and database, without user or password.
func PostgresTarget(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "(connection string)"
	}
	return u.Host + u.Path
}
