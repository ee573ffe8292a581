package shaping

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Reply is an SMTP reply as the shaper reads it (delivery.Reply without
// the import): Code 0 for a local error.
type Reply struct {
	Code     int
	Enhanced string
	Text     string
}

func (r Reply) String() string {
	s := strings.TrimSpace(fmt.Sprintf("%d %s %s", r.Code, r.Enhanced, r.Text))
	return strings.Join(strings.Fields(s), " ")
}

// Action is what a matching reply does to its destination.
type Action uint8

// Actions.
const (
	// Slow halves the destination's rate (multiplicative decrease); it
	// then grows back by a tenth of the rate every recovery step
	// (additive increase) until the configured rate is reached again.
	Slow Action = iota + 1
	// Suspend stops starting deliveries to the destination for the
	// reaction's Suspend time, or the time the reply names ("try again in
	// 5 minutes"), and slows it as Slow does for when it resumes.
	Suspend
)

func (a Action) String() string {
	switch a {
	case Slow:
		return "slow"
	case Suspend:
		return "suspend"
	}
	return "unknown"
}

// ParseAction is the inverse of Action.String (for config).
func ParseAction(s string) (Action, error) {
	switch strings.ToLower(s) {
	case "slow":
		return Slow, nil
	case "suspend":
		return Suspend, nil
	}
	return 0, fmt.Errorf("shaping: unknown action %q (slow, suspend)", s)
}

// Reaction is one row of the table of "slow down" replies. A reply
// matches when every set field matches: Code exactly, Enhanced as a
// prefix of the reply's enhanced code ("4.7.5" matches "4.7.500"),
// Contains case-insensitively in the text.
type Reaction struct {
	Name     string
	Code     int
	Enhanced string
	Contains string
	Action   Action
	// Suspend is the pause of a Suspend action when the reply names no
	// time of its own.
	Suspend time.Duration
	// Source is the published meaning of the reply.
	Source string
}

func (x *Reaction) match(r Reply) bool {
	if x.Code != 0 && x.Code != r.Code {
		return false
	}
	if x.Enhanced != "" && !strings.HasPrefix(r.Enhanced, x.Enhanced) {
		return false
	}
	if x.Contains != "" && !strings.Contains(strings.ToLower(r.Text), strings.ToLower(x.Contains)) {
		return false
	}
	return x.Code != 0 || x.Enhanced != "" || x.Contains != ""
}

// Validate reports the first problem of x.
func (x *Reaction) Validate() error {
	if x.Code == 0 && x.Enhanced == "" && x.Contains == "" {
		return fmt.Errorf("shaping: reaction %q matches every reply: give code, enhanced or contains", x.Name)
	}
	if x.Code != 0 && x.Code/100 != 4 {
		return fmt.Errorf("shaping: reaction %q: code %d is not a 4xx reply (a 5xx is final and never retried)", x.Name, x.Code)
	}
	if x.Action != Slow && x.Action != Suspend {
		return fmt.Errorf("shaping: reaction %q: unknown action", x.Name)
	}
	if x.Suspend < 0 {
		return fmt.Errorf("shaping: reaction %q: suspend must not be negative", x.Name)
	}
	return nil
}

// DefaultReactions is the built-in table, matched after the configured
// rows, first match wins. Its last row makes any 421 (RFC 5321 §3.8:
// the server is closing the channel, typically under load) slow the
// destination down.
func DefaultReactions() []Reaction {
	return []Reaction{
		{Name: "gmail-unsolicited-rate", Code: 421, Enhanced: "4.7.28", Action: Slow,
			Source: "https://support.google.com/a/answer/3726730"},
		{Name: "gmail-receiving-rate", Code: 450, Enhanced: "4.2.1", Action: Slow,
			Source: "https://support.google.com/a/answer/3726730"},
		{Name: "yahoo-deferred", Code: 421, Contains: "[TS", Action: Suspend, Suspend: 15 * time.Minute,
			Source: "https://senders.yahooinc.com/smtp-error-codes/"},
		{Name: "outlook-busy", Code: 451, Enhanced: "4.7.5", Action: Suspend, Suspend: 5 * time.Minute,
			Source: "https://learn.microsoft.com/en-us/exchange/mail-flow-best-practices/non-delivery-reports-in-exchange-online/non-delivery-reports-in-exchange-online"},
		{Name: "rate-limited", Contains: "rate limit", Action: Slow, Source: "reply text"},
		{Name: "too-many-messages", Contains: "too many messages", Action: Slow, Source: "reply text"},
		{Name: "too-many-connections", Contains: "too many connections", Action: Slow, Source: "reply text"},
		{Name: "any-421", Code: 421, Action: Slow, Source: "RFC 5321 §3.8"},
	}
}

// namedWait finds a wait the reply text names: "try again in 5 minutes",
// "retry after 300 seconds", "for 1 hour".
var namedWait = regexp.MustCompile(`(?i)\b(?:in|after|for)\s+(\d{1,6})\s*(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h)\b`)

// maxNamedWait caps a wait read from a reply: a typo or a hostile server
// must not stop a destination for days.
const maxNamedWait = 6 * time.Hour

// replyWait is the wait text names, zero when none.
func replyWait(text string) time.Duration {
	m := namedWait.FindStringSubmatch(text)
	if m == nil {
		return 0
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n <= 0 {
		return 0
	}
	unit := time.Second
	switch u := strings.ToLower(m[2]); {
	case strings.HasPrefix(u, "m"):
		unit = time.Minute
	case strings.HasPrefix(u, "h"):
		unit = time.Hour
	}
	return min(time.Duration(n)*unit, maxNamedWait)
}
