package pgstore

import "github.com/outbox-mta/outbox/store"

// Prefetch. A delivery reads its message's record (Get) and body
// (OpenBody) right after its claim; Claim returns both with the lease, in
// its one statement, and keeps them with the claim for those two reads:
// two statements and round trips fewer per message. Each is handed out
// once (a later read goes to the database), and dropped with the lease.
// The record is the one the claim locked and leased, a read at most the
// claim-to-delivery gap older than a read of its own would be, as any
// read is by the time the attempt starts; the outcome (Update) reads it
// again under the row lock. A body never changes once stored. Bodies past
// prefetchMax are left to OpenBody, so that a claim of many large
// messages holds no more than a few of them in memory.

// prefetchMax is the largest body Claim returns with the lease.
const prefetchMax = 256 << 10

// prefetched is what Claim read of one message for its delivery.
type prefetched struct {
	msg          *store.Message // its record, decoded; nil: handed out, or corrupt (Get quarantines it)
	raw          []byte         // its record, kept for the outcome (outcome.go)
	prefix, body []byte
	hasBody      bool // prefix and body are there (not handed out, not too large)
}

// takeMessage hands out the record Claim read for id, once.
func (l *leases) takeMessage(id string) *store.Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.ids[id]
	if !ok || c.pre == nil {
		return nil
	}
	m := c.pre.msg
	c.pre.msg = nil
	return m
}

// takeBody hands out the prefix and body Claim read for id, once.
func (l *leases) takeBody(id string) (prefix, body []byte, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, found := l.ids[id]
	if !found || c.pre == nil || !c.pre.hasBody {
		return nil, nil, false
	}
	prefix, body = c.pre.prefix, c.pre.body
	c.pre.prefix, c.pre.body, c.pre.hasBody = nil, nil, false
	return prefix, body, true
}
