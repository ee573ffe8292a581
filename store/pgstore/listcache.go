package pgstore

import (
	"github.com/outbox-mta/outbox/store"
)

// Sparing the suppression look-up. The list is empty at most sites most
// of the time, and the queue looks a message's recipients up right after
// claiming it (Suppressed): one statement per delivery that finds
// nothing. Claim sees in its own statement whether the list is empty, and
// so do the outcomes' reads; Suppressed answers "none" without a
// statement when
//
//   - every address it is asked about is a recipient of a message this
//     node holds a claim on, whose Claim saw the list empty, and
//   - the newest sighting (by when its statement was sent) saw it empty,
//     and no entry was added on this node since it was sent.
//
// The queue asks about the recipients of the message it just claimed, so
// the newest sighting is that claim's or a later one: the answer is what
// the list held no earlier than the claim, as a read of its own would be
// by the time the attempt starts. An entry another node adds is seen by
// the next statement that looks (the next claim, under load), and one
// added on this node at once.

// listState is what this node knows of the suppression list's emptiness
// (leases.mu guards it).
type listState struct {
	gen    uint64         // entries added on this node (bump)
	sent   uint64         // sightings started (ticket)
	newest uint64         // the ticket of the newest sighting recorded
	empty  bool           // it saw the list empty, and gen has not moved since
	clear  map[string]int // address → live claims that saw the list empty with it a recipient
}

// sighting is one statement's look at the list: its ticket, and gen when
// it was sent.
type sighting struct{ ticket, gen uint64 }

// sight starts a sighting; call it before sending the statement.
func (l *leases) sight() sighting {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list.sent++
	return sighting{ticket: l.list.sent, gen: l.list.gen}
}

// observe records what sighting s saw (l.mu held): only the newest
// counts, and one made before an entry was added here sees it non-empty.
func (l *leases) observe(s sighting, empty bool) {
	if s.ticket < l.list.newest {
		return
	}
	l.list.newest, l.list.empty = s.ticket, empty && s.gen == l.list.gen
}

// observed is observe for a caller without l.mu.
func (l *leases) observed(s sighting, empty bool) {
	l.mu.Lock()
	l.observe(s, empty)
	l.mu.Unlock()
}

// bump records an entry added on this node (after its commit): no
// sighting made before it counts any longer.
func (l *leases) bump() {
	l.mu.Lock()
	l.list.gen++
	l.list.empty = false
	clear(l.list.clear)
	l.mu.Unlock()
}

// knownClear reports whether the list is known to have none of addrs
// (see above).
func (l *leases) knownClear(addrs []string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.list.empty {
		return false
	}
	for _, a := range addrs {
		if l.list.clear[store.NormalizeAddress(a)] == 0 {
			return false
		}
	}
	return true
}

// clearAddrs are the normalised recipient addresses of m.
func clearAddrs(m *store.Message) []string {
	out := make([]string, 0, len(m.Recipients))
	for _, r := range m.Recipients {
		if a := store.NormalizeAddress(r.Addr); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// addClear counts addrs as recipients of a claim that saw the list empty
// (l.mu held).
func (l *leases) addClear(addrs []string) {
	if l.list.clear == nil {
		l.list.clear = map[string]int{}
	}
	for _, a := range addrs {
		l.list.clear[a]++
	}
}

// dropClear undoes addClear for a claim let go (l.mu held).
func (l *leases) dropClear(addrs []string) {
	for _, a := range addrs {
		if n := l.list.clear[a]; n > 1 {
			l.list.clear[a] = n - 1
		} else {
			delete(l.list.clear, a)
		}
	}
}
