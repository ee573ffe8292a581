package submission

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/outbox-mta/outbox/store"
)

// The MAIL parameters the listener takes itself, because go-smtp v0.25
// answers any it does not know with 500 5.5.4 (and reads MT-PRIORITY as a
// RCPT parameter): FUTURERELEASE's HOLDFOR and HOLDUNTIL (RFC 4865 §3) and
// MT-PRIORITY (RFC 6710 §3). The framer cuts them off each MAIL line before
// go-smtp parses it (framer.go) and the session applies them in Mail.
const (
	paramHoldFor    = "HOLDFOR"
	paramHoldUntil  = "HOLDUNTIL"
	paramMTPriority = "MT-PRIORITY"
)

// maxHoldFor is the largest HOLDFOR value: future-release-integer is
// 1*9DIGIT (RFC 4865 §3).
const maxHoldFor = 999999999

// mailParams are the parameters cut from one MAIL line, not yet checked.
// Several of one kind, or both HOLDFOR and HOLDUNTIL, make dup true.
type mailParams struct {
	holdFor, holdUntil, priority string
	hasHoldFor, hasHoldUntil     bool
	hasPriority, dup             bool
}

// Replies of RFC 4865 §5 and RFC 6710 §6 (RFC 3463 codes).
var (
	replyHoldSyntax = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 5, 4},
		Message: "Invalid HOLDFOR or HOLDUNTIL parameter"}
	replyHoldTooLong = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 3, 4},
		Message: "Requested hold time too long"}
	replyHoldOff = &smtp.SMTPError{Code: 504, EnhancedCode: smtp.EnhancedCode{5, 5, 4},
		Message: "FUTURERELEASE is not available on this server"}
	replyPrioritySyntax = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 5, 4},
		Message: "Invalid MT-PRIORITY parameter: an integer from -9 to 9"}
)

// cutMailParams returns the MAIL argument arg (after "MAIL ") without the
// parameters of this file, and those parameters. The reverse-path, which
// may hold spaces inside a quoted local part, is kept as it is; an
// argument whose path cannot be found is returned unchanged, for go-smtp
// to refuse.
func cutMailParams(arg string) (string, mailParams) {
	var p mailParams
	end := reversePathEnd(arg)
	if end < 0 {
		return arg, p
	}
	fields := strings.Fields(arg[end:])
	kept := fields[:0]
	for _, f := range fields {
		key, value, _ := strings.Cut(f, "=")
		switch strings.ToUpper(key) {
		case paramHoldFor:
			p.dup = p.dup || p.hasHoldFor || p.hasHoldUntil
			p.holdFor, p.hasHoldFor = value, true
		case paramHoldUntil:
			p.dup = p.dup || p.hasHoldFor || p.hasHoldUntil
			p.holdUntil, p.hasHoldUntil = value, true
		case paramMTPriority:
			p.dup = p.dup || p.hasPriority
			p.priority, p.hasPriority = value, true
		default:
			kept = append(kept, f)
		}
	}
	if !p.any() {
		return arg, p
	}
	return strings.Join(append([]string{arg[:end]}, kept...), " "), p
}

// any reports whether a parameter of this file was cut.
func (p *mailParams) any() bool { return p.hasHoldFor || p.hasHoldUntil || p.hasPriority }

// reversePathEnd is the index just past the reverse-path of a MAIL
// argument "FROM:<path> ...": past the '>' that is outside a quoted
// string, or -1.
func reversePathEnd(arg string) int {
	if len(arg) < 5 || !strings.EqualFold(arg[:5], "FROM:") {
		return -1
	}
	i := 5
	for i < len(arg) && arg[i] == ' ' {
		i++
	}
	if i == len(arg) || arg[i] != '<' {
		return -1
	}
	quoted := false
	for ; i < len(arg); i++ {
		switch c := arg[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == '>' && !quoted:
			return i + 1
		}
	}
	return -1
}

// holdUntilAt checks FUTURERELEASE's parameter at now: the release time, zero
// for none (no parameter, HOLDFOR=0, or a HOLDUNTIL not in the future: there
// is nothing to hold, as with an HTTP deliver_after in the past), or the
// reply. maxHold < 0: the extension is off.
func (p *mailParams) holdUntilAt(now time.Time, maxHold time.Duration) (time.Time, *smtp.SMTPError) {
	if !p.hasHoldFor && !p.hasHoldUntil {
		return time.Time{}, nil
	}
	if p.dup {
		return time.Time{}, replyHoldSyntax
	}
	if maxHold < 0 {
		return time.Time{}, replyHoldOff
	}
	var at time.Time
	if p.hasHoldFor {
		if !allDigits(p.holdFor, 9) {
			return time.Time{}, replyHoldSyntax
		}
		n, _ := strconv.Atoi(p.holdFor) // 9 digits fit
		at = now.Add(time.Duration(n) * time.Second)
	} else {
		t, err := time.Parse(time.RFC3339, p.holdUntil)
		if err != nil {
			return time.Time{}, replyHoldSyntax
		}
		at = t.UTC()
	}
	if !at.After(now) {
		return time.Time{}, nil
	}
	if at.Sub(now) > maxHold {
		return time.Time{}, replyHoldTooLong
	}
	return at, nil
}

// requestedLane is MT-PRIORITY's lane (RFC 6710 §3: -9..9; >0 high, 0
// normal, <0 bulk), ok false without the parameter, or the reply.
func (p *mailParams) requestedLane() (lane store.Priority, ok bool, reply *smtp.SMTPError) {
	if !p.hasPriority {
		return 0, false, nil
	}
	v := strings.TrimPrefix(strings.TrimPrefix(p.priority, "+"), "-")
	if p.dup || len(v) != 1 || !allDigits(v, 1) || len(p.priority) > 2 {
		return 0, false, replyPrioritySyntax
	}
	switch {
	case v == "0":
		return store.PriorityNormal, true, nil
	case p.priority[0] == '-':
		return store.PriorityBulk, true, nil
	}
	return store.PriorityHigh, true, nil
}

// laneRank orders lanes by precedence, bulk lowest.
func laneRank(p store.Priority) int {
	switch p {
	case store.PriorityHigh:
		return 2
	case store.PriorityBulk:
		return 0
	}
	return 1
}

// grantLane is the lane a message gets: the one it asked for (RFC 6710
// §4), except that a client that has not authenticated (a trusted
// network) may only lower its lane below def, its user's default, never
// raise it — otherwise any process on a trusted host could put its mail
// ahead of everyone's.
func grantLane(asked store.Priority, ok bool, def store.Priority, authenticated bool) store.Priority {
	if !ok || (!authenticated && laneRank(asked) > laneRank(def)) {
		return def
	}
	return asked
}

func allDigits(s string, most int) bool {
	if s == "" || len(s) > most {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ehloKeywords are the EHLO keywords of the extensions of this file
// (RFC 4865 §3: the longest hold in seconds and the latest release time,
// UTC; RFC 6710 §3: MT-PRIORITY without a priority-assignment policy
// name, as Outbox has three lanes rather than a registered profile). No
// FUTURERELEASE when maxHold < 0.
func ehloKeywords(now time.Time, maxHold time.Duration) []string {
	kw := []string{paramMTPriority}
	if maxHold >= 0 {
		kw = append(kw, fmt.Sprintf("FUTURERELEASE %d %s", int64(maxHold/time.Second),
			now.Add(maxHold).UTC().Truncate(time.Second).Format(time.RFC3339)))
	}
	return kw
}

// mailOptions are a transaction's per-message options from MAIL, checked
// and granted.
type mailOptions struct {
	holdUntil time.Time      // zero: at once
	lane      store.Priority // the lane granted
}

// mailOptions checks p for this session's user and clock; its error is the
// reply to MAIL. Called with s.mu held.
func (s *session) mailOptions(p *mailParams) (mailOptions, *smtp.SMTPError) {
	at, reply := p.holdUntilAt(s.srv.opts.Now(), s.srv.opts.MaxHold)
	if reply != nil {
		return mailOptions{}, reply
	}
	asked, ok, reply := p.requestedLane()
	if reply != nil {
		return mailOptions{}, reply
	}
	return mailOptions{holdUntil: at, lane: grantLane(asked, ok, s.priority(s.user), s.user != "")}, nil
}
