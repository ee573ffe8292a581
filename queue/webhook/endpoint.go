package webhook

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"
)

// Endpoint is one receiver of events.
type Endpoint struct {
	// Name identifies the endpoint: its cursor in the spool, its logs,
	// metrics and the CLI. Unique among the endpoints.
	Name string
	// URL receives a POST per batch; http or https.
	URL *url.URL
	// Secret signs every request.
	Secret Secret
	// Types are the event types sent; empty: every type. Events of other
	// types are skipped (the cursor passes them).
	Types []string
	// RetryFor is how long failures may last before the endpoint is
	// marked failed; default DefaultRetryFor.
	RetryFor time.Duration
	// Timeout bounds each request, reply included; default
	// DefaultTimeout.
	Timeout time.Duration
	// FirstRetry and MaxRetry shape the back-off after a failed request
	// (doubling, ±10 % jitter); defaults Options.FirstRetry and
	// Options.MaxRetry.
	FirstRetry, MaxRetry time.Duration
}

// Defaults of an Endpoint.
const (
	DefaultRetryFor = 72 * time.Hour
	DefaultTimeout  = 10 * time.Second
)

// wants reports whether e is sent events of type typ.
func (e *Endpoint) wants(typ string) bool {
	return len(e.Types) == 0 || slices.Contains(e.Types, typ)
}

// safeURL is the URL for logs: a password in it is masked.
func (e *Endpoint) safeURL() string { return e.URL.Redacted() }

// check reports what is wrong with e.
func (e *Endpoint) check() error {
	var errs []error
	if e.Name == "" {
		errs = append(errs, errors.New("no name"))
	}
	if e.URL == nil || (e.URL.Scheme != "http" && e.URL.Scheme != "https") || e.URL.Host == "" {
		errs = append(errs, fmt.Errorf("endpoint %q: the URL must be http:// or https:// with a host", e.Name))
	}
	if e.Secret.IsZero() {
		errs = append(errs, fmt.Errorf("endpoint %q: no secret", e.Name))
	}
	return errors.Join(errs...)
}
