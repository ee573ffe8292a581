package shaping

import "slices"

// parking is the messages waiting for a connection slot of their budget,
// oldest first per budget. Both shapers keep one under their mutex: a
// message is parked once, and woken in arrival order as connections free.
type parking struct {
	keyOf map[string]string   // message ID → the budget key it waits on
	queue map[string][]string // budget key → its waiting IDs, oldest first
}

func newParking() parking {
	return parking{keyOf: map[string]string{}, queue: map[string][]string{}}
}

// park adds id to key's queue, unless it waits already.
func (p *parking) park(id, key string) {
	if _, ok := p.keyOf[id]; ok {
		return
	}
	p.keyOf[id] = key
	p.queue[key] = append(p.queue[key], id)
}

// key returns the budget id waits on.
func (p *parking) key(id string) (string, bool) {
	k, ok := p.keyOf[id]
	return k, ok
}

// unpark drops id's wait.
func (p *parking) unpark(id string) {
	key, ok := p.keyOf[id]
	if !ok {
		return
	}
	delete(p.keyOf, id)
	p.setQueue(key, slices.DeleteFunc(p.queue[key], func(q string) bool { return q == id }))
}

// wake removes and returns the n oldest messages waiting on key (all of
// them when n < 0).
func (p *parking) wake(key string, n int) []string {
	q := p.queue[key]
	if n < 0 || n > len(q) {
		n = len(q)
	}
	woken := slices.Clone(q[:n])
	for _, id := range woken {
		delete(p.keyOf, id)
	}
	p.setQueue(key, append(q[:0], q[n:]...))
	return woken
}

// count is the number of messages waiting on key.
func (p *parking) count(key string) int { return len(p.queue[key]) }

func (p *parking) setQueue(key string, q []string) {
	if len(q) == 0 {
		delete(p.queue, key)
		return
	}
	p.queue[key] = q
}
