package config

import (
	"fmt"
	"strings"
	"time"
)

// ShapingRule is one [[shaping]] entry: a budget shared by the recipient
// domains it lists and by every domain whose primary MX host is under one
// of its MX suffixes. A zero limit means "no such limit"; the delivery
// section's caps (max_per_destination, max_messages_per_connection,
// max_recipients_per_transaction) still apply. A rule named like a
// built-in preset (gmail, yahoo, outlook, icloud) replaces it.
type ShapingRule struct {
	// Name identifies the budget in logs, stats and `queue explain`;
	// unique. Required.
	Name string `toml:"name"`
	// Domains are recipient domains, matched exactly.
	Domains []string `toml:"domains"`
	// MXSuffixes match the primary MX host name on a label boundary
	// ("google.com" matches "aspmx.l.google.com").
	MXSuffixes []string `toml:"mx_suffixes"`
	// Connections bounds the deliveries in progress at once.
	Connections int `toml:"connections"`
	// MessagesPerConnection closes a session after that many messages.
	MessagesPerConnection int `toml:"messages_per_connection"`
	// PerMinute and PerHour bound the messages started, evenly spaced.
	PerMinute int `toml:"per_minute"`
	PerHour   int `toml:"per_hour"`
	// Burst is how many may start back to back before the spacing
	// applies. Default 1.
	Burst int `toml:"burst"`
	// RecipientsPerTransaction caps the RCPTs of one transaction.
	RecipientsPerTransaction int `toml:"recipients_per_transaction"`
}

// ThrottleReply is one [[throttle_reply]] entry: a reply that says "slow
// down", matched before the built-in table. Every field given must match:
// Code exactly, Enhanced as a prefix, Contains case-insensitively in the
// text.
type ThrottleReply struct {
	Name     string `toml:"name"`
	Code     int    `toml:"code"`
	Enhanced string `toml:"enhanced"`
	Contains string `toml:"contains"`
	// Action is "slow" (halve the destination's rate) or "suspend" (stop
	// it for Suspend, or the time the reply names, then slow it).
	Action  string   `toml:"action"`
	Suspend Duration `toml:"suspend"`
}

// validateShaping checks the [[shaping]] and [[throttle_reply]] entries
// and the adaptive settings.
func (c *Config) validateShaping(ps *problems) {
	names := map[string]bool{}
	for i, r := range c.Shaping {
		key := fmt.Sprintf("shaping[%d]", i)
		switch {
		case r.Name == "":
			ps.add(key+".name", "a [[shaping]] rule needs a name")
		case names[r.Name]:
			ps.add(key+".name", "rule name %q is used twice", r.Name)
		}
		names[r.Name] = true
		if len(r.Domains) == 0 && len(r.MXSuffixes) == 0 {
			ps.add(key, "the rule matches nothing: give domains or mx_suffixes")
		}
		for _, v := range []struct {
			k string
			n int
		}{
			{"connections", r.Connections}, {"messages_per_connection", r.MessagesPerConnection},
			{"per_minute", r.PerMinute}, {"per_hour", r.PerHour}, {"burst", r.Burst},
			{"recipients_per_transaction", r.RecipientsPerTransaction},
		} {
			if v.n < 0 {
				ps.add(key+"."+v.k, "must not be negative, got %d", v.n)
			}
		}
	}
	for i, x := range c.ThrottleReplies {
		key := fmt.Sprintf("throttle_reply[%d]", i)
		if x.Code == 0 && x.Enhanced == "" && x.Contains == "" {
			ps.add(key, "matches every reply: give code, enhanced or contains")
		}
		if x.Code != 0 && x.Code/100 != 4 {
			ps.add(key+".code", "%d is not a 4xx reply (a 5xx is final and never retried)", x.Code)
		}
		if a := strings.ToLower(x.Action); a != "slow" && a != "suspend" {
			ps.add(key+".action", "%q is not an action (slow, suspend)", x.Action)
		}
		if x.Suspend.Duration < 0 {
			ps.add(key+".suspend", "must not be negative")
		}
	}
	if r := c.Delivery.ThrottleRecovery.Duration; r < time.Second {
		ps.add("delivery.throttle_recovery", "must be at least 1s, got %s", r)
	}
}
