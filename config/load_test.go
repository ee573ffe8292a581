package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeConfig writes doc to a file in a new temporary directory, after
// replacing {{dir}} with that directory, and returns the file's path.
func writeConfig(t *testing.T, doc string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "outbox.toml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(doc, "{{dir}}", dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadEmptyPathIsDefault(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatalf("Load(\"\"): %v", err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("Load(\"\") = %+v\nwant Default() = %+v", c, Default())
	}
}

func TestDefaultValues(t *testing.T) {
	c := Default()
	host, _ := os.Hostname()
	checks := []struct {
		name      string
		got, want any
	}{
		{"hostname", c.Hostname, host},
		{"spool.dir", c.Spool.Dir, "./outbox-spool"},
		{"admin.socket", c.Admin.Socket, filepath.Join("outbox-spool", "admin.sock")},
		{"listen.submission", c.Listen.Submission, []Listener{{Address: "127.0.0.1:587", Mode: ModeStartTLS}}},
		{"trusted_networks", c.TrustedNetworks, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}},
		{"limits.max_message_size", c.Limits.MaxMessageSize.Bytes, int64(25 << 20)},
		{"limits.max_recipients", c.Limits.MaxRecipients, 100},
		{"delivery.at_least_one", c.Delivery.AtLeastOne, true},
		{"delivery.dsn", c.Delivery.DSN, true},
		{"delivery.delay_warning", c.Delivery.DelayWarning.Duration, time.Duration(0)},
		{"delivery.first_retry", c.Delivery.FirstRetry.Duration, 5 * time.Minute},
		{"delivery.max_retry_interval", c.Delivery.MaxRetryInterval.Duration, 4000 * time.Second},
		{"delivery.max_lifetime", c.Delivery.MaxLifetime.Duration, 5 * 24 * time.Hour},
		{"delivery.max_per_destination", c.Delivery.MaxPerDestination, 20},
		{"delivery.port", c.Delivery.Port, 25},
		{"delivery.tls_policy", c.Delivery.TLSPolicy, TLSPolicyOpportunistic},
		{"delivery.timeouts.final_dot", c.Delivery.Timeouts.FinalDot.Duration, 10 * time.Minute},
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("default %s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Default().Validate(): %v", err)
	}
}

func TestLoadOverrides(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "relay.pw")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := writeConfig(t, `
hostname = "mx.example.com"
trusted_networks = ["10.1.2.3/8", "2001:db8::/32"]

[spool]
dir = "/var/spool/outbox"

[[listen.submission]]
address = ":2525"

[[listen.submission]]
address = "[::1]:2526"
mode = "STARTTLS"

[limits]
max_message_size = 1048576
read_timeout = "1d2h"

[delivery]
at_least_one = false
delay_warning = "4h"

[delivery.tls_policies]
"bank.example" = "Verify"

[relay.provider]
[[relay.provider.server]]
host = "smtp1.provider.example"
username = "me"
password_file = "`+pwFile+`"
[[relay.provider.server]]
host = "smtp2.provider.example"
tls = "tls"
[[relay.provider.server]]
host = "192.0.2.1"
tls = "none"

[routes]
"example.org" = "provider"
"*" = "direct"
`)
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"hostname", c.Hostname, "mx.example.com"},
		// Host bits are masked off, so Contains works as the operator meant.
		{"trusted_networks", c.TrustedNetworks, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}},
		{"admin.socket derived from spool.dir", c.Admin.Socket, "/var/spool/outbox/admin.sock"},
		// The file's list replaces the default listener, and each entry
		// gets its own defaults.
		{"listen.submission", c.Listen.Submission, []Listener{{":2525", ModeStartTLS}, {"[::1]:2526", ModeStartTLS}}},
		{"limits.max_message_size", c.Limits.MaxMessageSize.Bytes, int64(1 << 20)},
		{"limits.read_timeout", c.Limits.ReadTimeout.Duration, 26 * time.Hour},
		{"limits.max_recipients (default kept)", c.Limits.MaxRecipients, 100},
		{"delivery.at_least_one", c.Delivery.AtLeastOne, false},
		{"delivery.dsn (default kept)", c.Delivery.DSN, true},
		{"delivery.delay_warning", c.Delivery.DelayWarning.Duration, 4 * time.Hour},
		{"delivery.tls_policies", c.Delivery.DomainTLSPolicies, map[string]string{"bank.example": TLSPolicyVerify}},
		{"relay servers", c.Relays["provider"].Servers, []RelayServer{
			{Host: "smtp1.provider.example", Port: 587, TLS: RelayTLSStartTLS, TLSPolicy: TLSPolicyVerify,
				Username: "me", Password: "s3cret", PasswordFile: pwFile},
			{Host: "smtp2.provider.example", Port: 465, TLS: RelayTLSImplicit, TLSPolicy: TLSPolicyVerify},
			{Host: "192.0.2.1", Port: 25, TLS: RelayTLSNone, TLSPolicy: TLSPolicyNone},
		}},
		{"routes", c.Routes, map[string]string{"example.org": "provider", "*": Direct}},
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("%s = %+v, want %+v", ck.name, ck.got, ck.want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	t.Run("missing file", func(t *testing.T) {
		_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("Load of a missing file: %v, want an error matching os.ErrNotExist", err)
		}
	})
	t.Run("syntax error names the line", func(t *testing.T) {
		_, err := Load(writeConfig(t, "[limits]\nmax_recipients = = 3\n"))
		if err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Fatalf("Load: %v, want an error naming line 2", err)
		}
	})
	t.Run("type error names the key", func(t *testing.T) {
		_, err := Load(writeConfig(t, "[limits]\nmax_recipients = \"many\"\n"))
		if err == nil || !strings.Contains(err.Error(), "limits.max_recipients") {
			t.Fatalf("Load: %v, want an error naming limits.max_recipients", err)
		}
	})
	t.Run("validation error lists every problem", func(t *testing.T) {
		path := writeConfig(t, "bogus = 1\n[limits]\nmax_recipients = 0\nread_timeout = \"soon\"\n")
		_, err := Load(path)
		var verr *ValidationError
		if !errors.As(err, &verr) {
			t.Fatalf("Load: %v, want a *ValidationError", err)
		}
		if verr.File != path || len(verr.Problems) != 3 {
			t.Fatalf("ValidationError = %+v, want 3 problems in %s", verr, path)
		}
		msg := err.Error()
		for _, want := range []string{path + " (3 problems):", "\n\tbogus: unknown key", "\n\tlimits.max_recipients: must be at least 1 (got 0)", "\n\tlimits.read_timeout: invalid duration"} {
			if !strings.Contains(msg, want) {
				t.Errorf("error text %q lacks %q", msg, want)
			}
		}
		var p Problem
		if !errors.As(err, &p) || p.Key != "bogus" {
			t.Errorf("errors.As(err, *Problem) = %v, want the first problem", p)
		}
	})
}

// TestLoadClient: a local client reads the listeners of a configuration
// whose named files it cannot read, which Load refuses; unknown keys are
// still errors.
func TestLoadClient(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.toml")
	doc := "hostname = \"mail.example.com\"\n[[listen.submission]]\naddress = \"127.0.0.1:2525\"\n[tls]\ncert_file = \"/nonexistent/cert.pem\"\nkey_file = \"/nonexistent/key.pem\"\n"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil {
		t.Fatal("Load accepted missing key files")
	}
	c, err := LoadClient(path)
	if err != nil || c.Listen.Submission[0].Address != "127.0.0.1:2525" || c.Hostname != "mail.example.com" {
		t.Fatalf("LoadClient: %+v, %v", c, err)
	}
	if err := os.WriteFile(path, []byte("[listen]\nsubmision = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadClient(path); err == nil || !strings.Contains(err.Error(), "unknown key") {
		t.Errorf("LoadClient with an unknown key: %v", err)
	}
}
