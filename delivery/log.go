package delivery

import (
	"log/slog"
	"time"
)

// logAttempt writes the one line of an attempt: where it went, how, and
// what became of each recipient.
func (d *Deliverer) logAttempt(env *Envelope, res *Result, took time.Duration) {
	rcpts := make([]any, 0, len(res.Rcpts))
	for _, r := range res.Rcpts {
		rcpts = append(rcpts, slog.String(r.Rcpt, r.Status.String()+" "+r.Reply.String()))
	}
	attrs := []any{
		"msgid", env.MsgID,
		"domain", env.Domain,
		"host", res.Host,
		"tls", res.TLS,
		"duration", took.Round(time.Millisecond),
		slog.Group("rcpt", rcpts...),
	}
	if res.DestinationDown {
		attrs = append(attrs, "destination_down", true)
	}
	if res.Ambiguous {
		attrs = append(attrs, "ambiguous", true)
	}
	d.cfg.log.Info("delivery attempt", attrs...)
}
