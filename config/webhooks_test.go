package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const goodSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// TestWebhooksDefaults: name from the URL's host, retry_for 3d, timeout
// 10s; a secret_file is read into Secret.
func TestWebhooksDefaults(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(goodSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(writeConfig(t, `
[[webhooks]]
url = "https://app.example.com:8443/hook"
secret_file = "`+secretFile+`"
events = ["Delivered", "bounced"]
`))
	if err != nil {
		t.Fatal(err)
	}
	w := c.Webhooks[0]
	if w.Name != "app.example.com:8443" || w.RetryFor.Duration != 72*time.Hour || w.Timeout.Duration != 10*time.Second ||
		w.Secret != goodSecret || strings.Join(w.Events, ",") != "delivered,bounced" {
		t.Fatalf("webhook = %+v", w)
	}
	for _, s := range c.Summary() {
		if strings.Contains(s.Value, "MfKQ9r8GKYqr") {
			t.Fatalf("summary shows the secret: %v", s)
		}
	}
}

// TestWebhooksBroken: each broken entry is reported with its key and a
// message the operator can act on, all at once; a secret is never quoted.
func TestWebhooksBroken(t *testing.T) {
	_, err := Load(writeConfig(t, `
[[webhooks]]
url = "ftp://app.example.com/hook"
secret = "`+goodSecret+`"

[[webhooks]]
url = "https://app.example.com/other"

[[webhooks]]
name = "short"
url = "https://user:hunter2@crm.example.com/h"
secret = "whsec_c2hvcnQ="
events = ["delivered", "opened"]
retry_for = "-1h"
timeout = "soon"

[[webhooks]]
name = "both"
url = "https://crm.example.com/h"
secret = "not-a-secret-at-all"
secret_file = "/nonexistent/secret"

[[webhooks]]
name = "noprefix"
url = "http://[::1"
secret = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
`))
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("Load = %v, want a ValidationError", err)
	}
	text := err.Error()
	for _, want := range []string{
		`webhooks[0].url: "ftp://app.example.com/hook" must be an http:// or https:// URL with a host`,
		`webhooks[1].name: "app.example.com" is also the name of webhooks[0]`,
		`webhooks[1].secret: required (or secret_file)`,
		`webhooks[2].secret: the key must have 24 to 64 bytes (it has 5)`,
		`webhooks[2].events[1]: unknown event type "opened" (known: accepted, delivered,`,
		`webhooks[2].retry_for:`,
		`webhooks[2].timeout:`,
		`webhooks[3].secret_file: set secret or secret_file, not both`,
		`webhooks[3].secret_file: no such file: /nonexistent/secret`,
		`webhooks[4].url: "http://[::1" is not a URL`,
		`webhooks[4].secret: must start with "whsec_"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("errors lack %q", want)
		}
	}
	for _, secret := range []string{"hunter2", "MfKQ9r8GKYqr", "c2hvcnQ", "not-a-secret"} {
		if strings.Contains(text, secret) {
			t.Errorf("errors show %q:\n%s", secret, text)
		}
	}
}
