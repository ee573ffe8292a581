package config

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestSummaryShowsValuesNotSecrets(t *testing.T) {
	c := Default()
	c.Users = []User{{Name: "app", PasswordHash: testHash}}
	c.Relays = map[string]Relay{"provider": {Servers: []RelayServer{{
		Host: "smtp.provider.example", Port: 587, TLS: RelayTLSStartTLS, TLSPolicy: TLSPolicyVerify,
		Username: "me", Password: "hunter2-secret",
	}}}}
	c.Routes = map[string]string{"example.org": "provider"}

	var b bytes.Buffer
	if err := c.WriteSummary(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"spool.dir ", "./outbox-spool",
		"listen.submission[0] ", "127.0.0.1:587 starttls",
		"trusted_networks ", "127.0.0.0/8, ::1/128",
		"users ", "app",
		"max_message_size 25MiB, max_recipients 100",
		"first 5m, max interval 1h6m40s, lifetime 5d",
		"delay_warning off",
		"delivery.dns_cache ", "10000 entries, TTL 30s-1h, negative 30s-15m",
		"relay.provider.server[0] ", "smtp.provider.example:587 tls starttls, tls_policy verify, auth as me (password set)",
		`routes."example.org" `, "provider",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "config", c)
	for _, secret := range []string{"hunter2-secret", testHash} {
		if strings.Contains(out, secret) || strings.Contains(logged.String(), secret) {
			t.Errorf("a secret (%q) appears in the summary or the log", secret)
		}
	}
	if !strings.Contains(logged.String(), "config.spool.dir=./outbox-spool") {
		t.Errorf("log line lacks the spool dir: %s", logged.String())
	}
}
