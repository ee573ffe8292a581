package submission

import "github.com/outbox-mta/outbox/store"

// PriorityPolicy gives the delivery lane (store.Priority) of a message by
// the user who submitted it: SMTP has no safe way for a message to ask
// for one itself. MT-PRIORITY (RFC 6710) is a MAIL parameter go-smtp
// refuses, and a header field would let any client put its mail ahead of
// everyone's, so the lane is the operator's choice per user
// ([[users]] priority).
type PriorityPolicy interface {
	// Priority is user's lane; "" (a trusted network without AUTH) too.
	Priority(user string) store.Priority
}

// UserPriorities is a PriorityPolicy from a fixed table; a user without
// an entry is normal.
type UserPriorities map[string]store.Priority

var _ PriorityPolicy = UserPriorities(nil)

// Priority implements PriorityPolicy.
func (u UserPriorities) Priority(user string) store.Priority { return u[user] }

// priority is the lane of a message user submits.
func (s *session) priority(user string) store.Priority {
	if p := s.srv.opts.Priorities; p != nil {
		return p.Priority(user)
	}
	return store.PriorityNormal
}
