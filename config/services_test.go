package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMetricsAndCronConfigs is the table of [metrics], [cron] and [log] settings
// and the problems the user must see for each ("" when valid).
func TestMetricsAndCronConfigs(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"loopback v4", "[metrics]\naddress = \"127.0.0.1:9587\"\n", nil},
		{"loopback v6", "[metrics]\naddress = \"[::1]:9587\"\n", nil},
		{"public refused", "[metrics]\naddress = \"0.0.0.0:9587\"\n",
			[]string{`metrics.address: "0.0.0.0:9587" is not a loopback address (127.0.0.0/8 or ::1); the endpoint has no authentication: set metrics.allow_non_loopback = true to expose it anyway`}},
		{"host name refused", "[metrics]\naddress = \"localhost:9587\"\n",
			[]string{`metrics.address: "localhost:9587" is not a loopback address (127.0.0.0/8 or ::1); the endpoint has no authentication: set metrics.allow_non_loopback = true to expose it anyway`}},
		{"public allowed", "[metrics]\naddress = \"0.0.0.0:9587\"\nallow_non_loopback = true\n", nil},
		{"not host:port", "[metrics]\naddress = \"9587\"\n",
			[]string{`metrics.address: "9587" is not host:port (e.g. "127.0.0.1:587", "[::1]:587", ":465")`}},
		{"schedules", "[cron]\nprune = \"@every 10m\"\nsweep = \"0 3 * * *\"\nstats = \"\"\n", nil},
		{"bad schedules", "[cron]\nprune = \"61 * * * *\"\ndelay_warnings = \"often\"\n", []string{
			`cron.prune: "61 * * * *" is not a cron schedule`,
			`cron.delay_warnings: "often" is not a cron schedule`,
		}},
		{"tls reports", "[tls_reports]\nenabled = true\nfrom = \"tlsrpt@example.com\"\n[cron]\ntls_reports = \"@daily\"\n", nil},
		{"bad tls reports", "[tls_reports]\nfrom = \"not an address\"\n[cron]\ntls_reports = \"daily\"\n", []string{
			`cron.tls_reports: "daily" is not a cron schedule`,
			`tls_reports.from: "not an address" is not an email address`,
		}},
		{"json log", "[log]\nformat = \"json\"\nlevel = \"debug\"\n", nil},
		{"bad log", "[log]\nformat = \"logfmt\"\nlevel = \"verbose\"\n", []string{
			`log.format: "logfmt" is not a log format: use "text" or "json"`,
			`log.level: "verbose" is not a log level: use "debug", "info", "warn" or "error"`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "outbox.toml")
			if err := os.WriteFile(path, []byte(tt.doc), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Load succeeded, want problems")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}
