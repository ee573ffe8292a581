package config

import "log/slog"

// Log formats for Log.Format.
const (
	LogText = "text" // logfmt-style key=value lines (slog's TextHandler)
	LogJSON = "json" // one JSON object per line, for log indexers
)

// Log is how the daemon writes its log (to stderr, which systemd sends to
// the journal). Read at start: a change needs a restart.
type Log struct {
	// Format is "text" (key=value lines) or "json" (one object per line,
	// with recipients as JSON arrays). Default: "text".
	Format string `toml:"format"`
	// Level is the least severe level written: "debug", "info", "warn" or
	// "error". Default: "info".
	Level string `toml:"level"`
}

// SlogLevel is Level as a slog.Level (info for a value Validate rejects).
func (l Log) SlogLevel() slog.Level {
	var v slog.Level
	if err := v.UnmarshalText([]byte(l.Level)); err != nil {
		return slog.LevelInfo
	}
	return v
}

func (c *Config) validateLog(ps *problems) {
	if f := c.Log.Format; f != LogText && f != LogJSON {
		ps.add("log.format", "%q is not a log format: use %q or %q", f, LogText, LogJSON)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		ps.add("log.level", "%q is not a log level: use \"debug\", \"info\", \"warn\" or \"error\"", c.Log.Level)
	}
}
