package shaping

import (
	"fmt"
	"strings"
)

// Limits is the budget of one destination. A zero field means "no limit
// of this kind from shaping": delivery's own caps still apply
// (delivery.Options.MaxPerDestination, MaxMessagesPerConn, MaxRcptsPerTx).
type Limits struct {
	// Connections bounds the deliveries in progress at once to the
	// destination (each holds one SMTP session).
	Connections int
	// MessagesPerConnection is the number of transactions after which a
	// session to the destination is closed rather than reused.
	MessagesPerConnection int
	// PerMinute and PerHour bound the messages (SMTP transactions)
	// started per minute and per hour. They are enforced as evenly spaced
	// slots (GCRA, the generic cell rate algorithm of ITU-T I.371), so a
	// receiver counting over any window sees the rate, not bursts.
	PerMinute, PerHour int
	// Burst is how many messages may start back to back before the
	// spacing applies; default 1.
	Burst int
	// RecipientsPerTransaction caps the RCPTs of one transaction; a larger
	// group costs one message of the rate per transaction it needs.
	RecipientsPerTransaction int
}

// Rule gives the destinations it matches one shared budget: every
// recipient domain in Domains, and every domain whose primary MX host is
// under one of MXSuffixes ("google.com" matches "aspmx.l.google.com"),
// count against the same Limits.
type Rule struct {
	// Name identifies the budget in logs, stats and explanations; it must
	// be unique.
	Name       string
	Domains    []string
	MXSuffixes []string
	Limits     Limits
	// Source says where the values come from (a preset's published
	// guidance, or "config").
	Source string
}

// matchDomain reports whether r lists domain (lower-case, no trailing
// dot) itself.
func (r *Rule) matchDomain(domain string) bool {
	for _, d := range r.Domains {
		if d == domain {
			return true
		}
	}
	return false
}

// matchMX reports whether host (an MX host name) is under one of r's
// suffixes, on a label boundary.
func (r *Rule) matchMX(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, s := range r.MXSuffixes {
		if host == s || strings.HasSuffix(host, "."+s) {
			return true
		}
	}
	return false
}

// Validate reports the first problem of r: a missing name, nothing to
// match, or a negative limit.
func (r *Rule) Validate() error {
	if r.Name == "" {
		return fmt.Errorf("shaping: a rule needs a name")
	}
	if len(r.Domains) == 0 && len(r.MXSuffixes) == 0 {
		return fmt.Errorf("shaping: rule %q matches nothing: give domains or mx_suffixes", r.Name)
	}
	l := r.Limits
	for _, v := range []struct {
		name string
		n    int
	}{
		{"connections", l.Connections}, {"messages_per_connection", l.MessagesPerConnection},
		{"per_minute", l.PerMinute}, {"per_hour", l.PerHour}, {"burst", l.Burst},
		{"recipients_per_transaction", l.RecipientsPerTransaction},
	} {
		if v.n < 0 {
			return fmt.Errorf("shaping: rule %q: %s must not be negative", r.Name, v.name)
		}
	}
	return nil
}

// normalize lower-cases the names r matches and drops trailing dots.
func (r Rule) normalize() Rule {
	low := func(in []string) []string {
		out := make([]string, 0, len(in))
		for _, s := range in {
			out = append(out, strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), ".")))
		}
		return out
	}
	r.Domains, r.MXSuffixes = low(r.Domains), low(r.MXSuffixes)
	if r.Limits.Burst <= 0 {
		r.Limits.Burst = 1
	}
	return r
}
