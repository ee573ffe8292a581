package config

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// Webhook is one HTTP endpoint that receives the delivery events
// ([[webhooks]]), signed by the Standard Webhooks convention, in
// sequence order, retried until it answers 2xx.
type Webhook struct {
	// Name identifies the endpoint in the CLI (`outbox webhooks
	// redeliver NAME`), the logs, the metrics and the spool, which keeps
	// its cursor under this name: renaming an endpoint starts it afresh.
	// Default: the URL's host (and port).
	Name string `toml:"name"`
	// URL receives a POST of each batch of events; http:// or https://.
	// Redirects are not followed. Required.
	URL string `toml:"url"`
	// Secret signs the requests: "whsec_" and the base64 of 24 to 64
	// random bytes (echo whsec_$(openssl rand -base64 32)). Prefer
	// SecretFile, which keeps it out of this file. One of the two is
	// required. Never logged.
	Secret string `toml:"secret"`
	// SecretFile is a file holding the secret (a final newline is
	// ignored); Load reads it into Secret.
	SecretFile string `toml:"secret_file"`
	// Events are the event types sent (WebhookEventTypes()); the others are
	// skipped. Default: empty, every type.
	Events []string `toml:"events"`
	// RetryFor is how long an endpoint may keep failing before it is
	// marked failed (then it is probed hourly until it answers, or
	// `outbox webhooks redeliver` resumes it). Default: 3d.
	RetryFor Duration `toml:"retry_for"`
	// Timeout bounds one request, the reply included. Default: 10s.
	Timeout Duration `toml:"timeout"`
	// FirstRetry is the wait after a first failed request; it doubles
	// after each further failure up to MaxRetryInterval (±10 % jitter).
	// Defaults: 5s and 10m.
	FirstRetry       Duration `toml:"first_retry"`
	MaxRetryInterval Duration `toml:"max_retry_interval"`
}

// Per-entry defaults of [[webhooks]], applied by resolveWebhooks.
const (
	defaultWebhookRetryFor = 72 * time.Hour
	defaultWebhookTimeout  = 10 * time.Second
	defaultWebhookFirst    = 5 * time.Second
	defaultWebhookMaxRetry = 10 * time.Minute
)

// WebhookEventTypes returns the event types of the event log, the values
// webhooks.events accepts. A new slice each call, so no caller can change
// what the next one validates against.
func WebhookEventTypes() []string {
	return []string{"accepted", "delivered", "deferred", "bounced", "delay_warning", "held", "released", "deleted"}
}

// webhookSecretPrefix starts every secret; its key is 24 to 64 bytes.
const webhookSecretPrefix = "whsec_"

// resolveWebhooks fills each endpoint's defaults.
func (c *Config) resolveWebhooks() {
	if len(c.Webhooks) == 0 {
		c.Webhooks = nil
	}
	for i := range c.Webhooks {
		w := &c.Webhooks[i]
		if w.Name == "" {
			if u, err := url.Parse(w.URL); err == nil {
				w.Name = u.Host
			}
		}
		for _, d := range []struct {
			v   *Duration
			def time.Duration
		}{{&w.RetryFor, defaultWebhookRetryFor}, {&w.Timeout, defaultWebhookTimeout},
			{&w.FirstRetry, defaultWebhookFirst}, {&w.MaxRetryInterval, defaultWebhookMaxRetry}} {
			if d.v.Duration == 0 && d.v.invalid == "" {
				*d.v = D(d.def)
			}
		}
		for j, e := range w.Events {
			w.Events[j] = strings.ToLower(strings.TrimSpace(e))
		}
	}
}

// validateWebhooks checks every [[webhooks]] entry.
func (c *Config) validateWebhooks(ps *problems) {
	names := map[string]int{}
	for i, w := range c.Webhooks {
		key := fmt.Sprintf("webhooks[%d]", i)
		u, err := url.Parse(w.URL)
		switch {
		case w.URL == "":
			ps.add(key+".url", "required")
		case err != nil:
			ps.add(key+".url", "%q is not a URL: %v", redactURL(w.URL), err)
		case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			ps.add(key+".url", "%q must be an http:// or https:// URL with a host", u.Redacted())
		}
		if j, dup := names[w.Name]; dup && w.Name != "" {
			ps.add(key+".name", "%q is also the name of webhooks[%d] (the default name is the URL's host: set a name for each)", w.Name, j)
		} else {
			names[w.Name] = i
		}
		switch {
		case w.Secret != "" && w.SecretFile != "":
			ps.add(key+".secret_file", "set secret or secret_file, not both")
		case w.Secret == "" && w.SecretFile == "":
			ps.add(key+".secret", `required (or secret_file): "whsec_" and the base64 of 24 to 64 random bytes; make one with: echo whsec_$(openssl rand -base64 32)`)
		case w.Secret != "":
			if msg := checkWebhookSecret(w.Secret); msg != "" {
				ps.add(key+".secret", "%s", msg)
			}
		}
		readable(ps, key+".secret_file", w.SecretFile)
		for j, e := range w.Events {
			if known := WebhookEventTypes(); !slices.Contains(known, e) {
				ps.add(fmt.Sprintf("%s.events[%d]", key, j), "unknown event type %q (known: %s)", e, strings.Join(known, ", "))
			}
		}
		positive(ps, key+".retry_for", w.RetryFor)
		positive(ps, key+".timeout", w.Timeout)
		positive(ps, key+".first_retry", w.FirstRetry)
		if positive(ps, key+".max_retry_interval", w.MaxRetryInterval) && w.MaxRetryInterval.Duration < w.FirstRetry.Duration {
			ps.add(key+".max_retry_interval", "must be at least first_retry (%s)", w.FirstRetry)
		}
	}
}

// checkWebhookSecret says what is wrong with a secret, never quoting it.
func checkWebhookSecret(s string) string {
	b64, ok := strings.CutPrefix(strings.TrimSpace(s), webhookSecretPrefix)
	if !ok {
		return `must start with "whsec_" (echo whsec_$(openssl rand -base64 32))`
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	switch {
	case err != nil:
		return `after "whsec_" must come standard base64`
	case len(key) < 24 || len(key) > 64:
		return fmt.Sprintf("the key must have 24 to 64 bytes (it has %d)", len(key))
	}
	return ""
}

// readWebhookSecrets reads each secret_file into Secret, so that cmd
// never touches the file.
func (c *Config) readWebhookSecrets(ps *problems) {
	for i := range c.Webhooks {
		w := &c.Webhooks[i]
		if w.SecretFile == "" || w.Secret != "" {
			continue // unset, or both set: reported by validate
		}
		b, err := os.ReadFile(w.SecretFile)
		if err != nil {
			continue // reported by validate (readable)
		}
		w.Secret = strings.TrimRight(string(b), "\r\n")
		if msg := checkWebhookSecret(w.Secret); msg != "" {
			ps.add(fmt.Sprintf("webhooks[%d].secret_file", i), "%s: %s", w.SecretFile, msg)
		}
	}
}

// redactURL masks a password in a URL that may not parse.
func redactURL(s string) string {
	if at := strings.LastIndex(s, "@"); at >= 0 {
		if i := strings.Index(s, "://"); i >= 0 && i < at {
			return s[:i+3] + "xxxxx" + s[at:]
		}
	}
	return s
}
