package delivery

import (
	"encoding/json"
	"strings"
	"time"
)

// logAttempt writes the one line of an attempt: where it went, how, and
// what became of each recipient.
func (d *Deliverer) logAttempt(env *Envelope, res *Result, took time.Duration) {
	rcpts := make(rcptOutcomes, 0, len(res.Rcpts))
	for _, r := range res.Rcpts {
		rcpts = append(rcpts, rcptOutcome{Rcpt: r.Rcpt, Status: r.Status.String(), Reply: r.Reply.String()})
	}
	attrs := []any{
		"msgid", env.MsgID,
		"domain", env.Domain,
		"host", res.Host,
		"tls", res.TLS,
		"duration", took.Round(time.Millisecond),
		"rcpts", rcpts,
	}
	if res.DestinationDown {
		attrs = append(attrs, "destination_down", true)
	}
	if res.Ambiguous {
		attrs = append(attrs, "ambiguous", true)
	}
	d.cfg.log.Info("delivery attempt", attrs...)
}

// rcptOutcome is one recipient's line in an attempt's log entry.
type rcptOutcome struct {
	Rcpt   string `json:"rcpt"`
	Status string `json:"status"`
	Reply  string `json:"reply"`
}

// rcptOutcomes is logged as one attribute, whatever the number of
// recipients: a JSON array of objects by slog's JSON handler, and
// "ADDR STATUS REPLY; ..." by its text handler. One key per address
// (rcpt.ADDR=) would give log indexers a new field for every address.
type rcptOutcomes []rcptOutcome

// MarshalJSON keeps the array: without it, encoding/json would prefer
// MarshalText and log a string.
func (rs rcptOutcomes) MarshalJSON() ([]byte, error) {
	return json.Marshal([]rcptOutcome(rs))
}

// MarshalText is the form slog's text handler writes.
func (rs rcptOutcomes) MarshalText() ([]byte, error) {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.Rcpt + " " + r.Status + " " + r.Reply
	}
	return []byte(strings.Join(parts, "; ")), nil
}
