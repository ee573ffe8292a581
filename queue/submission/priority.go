package submission

import "github.com/outbox-mta/outbox/store"

// PriorityPolicy gives the default delivery lane (store.Priority) of a
// message by the user who submitted it ([[users]] priority): the lane of
// a message without MT-PRIORITY, and the highest a client without AUTH
// may have (mailparams.go, grantLane).
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
