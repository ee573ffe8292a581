package submission

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
)

// SenderPolicy says which addresses an authenticated user may send as, as
// Postfix's reject_sender_login_mismatch does: one application's leaked
// credentials must not let it send as another's domain.
type SenderPolicy interface {
	// SenderAllowed reports whether user may use addr (never "") as the
	// envelope sender, and as the From header address when FromChecked.
	SenderAllowed(user, addr string) bool
	// FromChecked reports whether user's From header addresses are
	// checked too.
	FromChecked(user string) bool
}

// SenderRule is one user's allowed senders.
type SenderRule struct {
	// Patterns are addresses ("app@example.com") or "*@domain" for any
	// address at domain; domains match without regard to case. Empty:
	// any sender.
	Patterns []string
	// CheckFrom checks every address of the From header field as well.
	CheckFrom bool
}

// Senders is a SenderPolicy from a fixed table of rules by user name.
// Users without a rule, or with no patterns, may use any sender.
type Senders struct {
	rules map[string]SenderRule
}

var _ SenderPolicy = (*Senders)(nil)

// NewSenders checks the patterns of rules; every bad one is reported, by
// user.
func NewSenders(rules map[string]SenderRule) (*Senders, error) {
	var errs []error
	for user, r := range rules {
		for _, p := range r.Patterns {
			if err := checkPattern(p); err != nil {
				errs = append(errs, fmt.Errorf("user %q: allowed sender %q: %w", user, p, err))
			}
		}
	}
	return &Senders{rules: rules}, errors.Join(errs...)
}

func checkPattern(p string) error {
	local, domain, ok := strings.Cut(p, "@")
	switch {
	case !ok || local == "" || domain == "":
		return errors.New(`want "local@domain" or "*@domain"`)
	case strings.ContainsAny(domain, "*@") || (strings.Contains(local, "*") && local != "*"):
		return errors.New(`"*" may only stand for the whole local part`)
	}
	return nil
}

// SenderAllowed implements SenderPolicy.
func (s *Senders) SenderAllowed(user, addr string) bool {
	r := s.rules[user]
	if len(r.Patterns) == 0 {
		return true
	}
	local, domain, ok := cutAt(addr)
	if !ok {
		return false
	}
	for _, p := range r.Patterns {
		pl, pd, _ := cutAt(p)
		if strings.EqualFold(pd, domain) && (pl == "*" || pl == local) {
			return true
		}
	}
	return false
}

// FromChecked implements SenderPolicy.
func (s *Senders) FromChecked(user string) bool { return s.rules[user].CheckFrom }

// cutAt splits an address at its last "@".
func cutAt(addr string) (local, domain string, ok bool) {
	i := strings.LastIndexByte(addr, '@')
	if i <= 0 || i == len(addr)-1 {
		return "", "", false
	}
	return addr[:i], addr[i+1:], true
}

// checkSender refuses an envelope sender the authenticated user does not
// own (553 5.7.1). The null sender belongs to nobody, so a user with
// patterns may not use it. The caller holds s.mu.
func (s *session) checkSender(from string) error {
	p := s.srv.opts.Senders
	if p == nil || s.user == "" || p.SenderAllowed(s.user, from) {
		return nil
	}
	return s.reject("mail", replySenderNotOwned, "user", s.user, "from", from)
}

// checkFromHeader refuses a message whose From header names an address
// the authenticated user does not own, when the user's rule asks for it.
// from is the raw field value.
func (s *session) checkFromHeader(user, from, id string) error {
	p := s.srv.opts.Senders
	if p == nil || user == "" || !p.FromChecked(user) {
		return nil
	}
	addrs, err := mail.ParseAddressList(from)
	if err != nil || len(addrs) == 0 {
		return s.reject("data", replyFromNotOwned, "user", user, "msgid", id)
	}
	for _, a := range addrs {
		if !p.SenderAllowed(user, a.Address) {
			return s.reject("data", replyFromNotOwned, "user", user, "from_header", a.Address, "msgid", id)
		}
	}
	return nil
}
