package queue

import "github.com/outbox-mta/outbox/store"

// group is the recipients of one message that go to one destination domain:
// one SMTP transaction (RFC 5321 §3.3: many RCPTs, one DATA).
type group struct {
	Domain string   // destination domain (store.Domain); "" when an address has no "@"
	Rcpts  []string // addresses as submitted
	Index  []int    // Index[i] is Rcpts[i]'s position in Message.Recipients
}

// groupByDomain splits addrs (with their positions idx in the message)
// into one group per destination domain, in order of first appearance, and
// each group's recipients in RCPT order. The domain is store.Domain's:
// lower-cased, without a trailing dot (RFC 5321 §2.4: domains are
// case-insensitive while local parts are not, so addresses are passed on
// unchanged).
func groupByDomain(addrs []string, idx []int) []group {
	var groups []group
	pos := make(map[string]int)
	for i, a := range addrs {
		d := store.Domain(a)
		g, ok := pos[d]
		if !ok {
			g = len(groups)
			pos[d] = g
			groups = append(groups, group{Domain: d})
		}
		groups[g].Rcpts = append(groups[g].Rcpts, a)
		groups[g].Index = append(groups[g].Index, idx[i])
	}
	return groups
}
