package delivery

import (
	"sync"
	"time"
)

// pool keeps idle sessions per destination (domain for direct routes, relay
// name for relays) so that further messages reuse the connection — and a
// relay login — instead of dialing again. It also owns the background work
// that follows a transaction (RSET, QUIT), so that Close can wait for it.
type pool struct {
	maxIdle int           // idle sessions kept per destination
	idleFor time.Duration // an idle session is closed after this
	now     func() time.Time
	quitIn  time.Duration // timeout of the QUIT of a closing session

	mu     sync.Mutex
	closed bool
	gen    uint64 // bumped by closeIdle: sessions of older generations are not pooled
	idle   map[string][]*session
	wg     sync.WaitGroup // background finishers and idle expiries
}

func newPool(maxIdle int, idleFor, quitIn time.Duration, now func() time.Time) *pool {
	return &pool{maxIdle: maxIdle, idleFor: idleFor, quitIn: quitIn, now: now, idle: map[string][]*session{}}
}

// spawn runs f in a goroutine that Close waits for. It reports false (and
// does not run f) once the pool is closed.
func (p *pool) spawn(f func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
	}()
	return true
}

// get takes the most recently used idle session of key, or nil. A session
// idle for longer than the limit (by the Now clock) is closed instead.
func (p *pool) get(key string) *session {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		list := p.idle[key]
		if len(list) == 0 {
			return nil
		}
		s := list[len(list)-1]
		list[len(list)-1] = nil
		if list = list[:len(list)-1]; len(list) == 0 {
			delete(p.idle, key)
		} else {
			p.idle[key] = list
		}
		s.idleTimer.Stop()
		if p.now().Sub(s.idleSince) < p.idleFor {
			return s
		}
		p.quitLocked(s)
	}
}

// put parks s for reuse. It reports false when the pool is closed or full:
// the caller then closes s.
func (p *pool) put(s *session) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || s.gen != p.gen || len(p.idle[s.key]) >= p.maxIdle {
		return false
	}
	s.idleSince = p.now()
	p.idle[s.key] = append(p.idle[s.key], s)
	s.idleTimer = time.AfterFunc(p.idleFor, func() { p.expire(s) })
	return true
}

// expire closes s if it is still idle in the pool.
func (p *pool) expire(s *session) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return // Close quits it
	}
	list := p.idle[s.key]
	for i, x := range list {
		if x == s {
			list = append(list[:i], list[i+1:]...)
			if len(list) == 0 {
				delete(p.idle, s.key)
			} else {
				p.idle[s.key] = list
			}
			p.quitLocked(s)
			return
		}
	}
}

// quitLocked quits s in the background; p.mu is held and p is not closed.
func (p *pool) quitLocked(s *session) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		s.quit(p.quitIn)
	}()
}

// close stops the pool, quits every idle session and waits for all
// background work.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	var all []*session
	for _, list := range p.idle {
		for _, s := range list {
			s.idleTimer.Stop()
			all = append(all, s)
		}
	}
	p.idle = map[string][]*session{}
	p.mu.Unlock()

	var wg sync.WaitGroup
	for _, s := range all {
		wg.Go(func() { s.quit(p.quitIn) })
	}
	wg.Wait()
	p.wg.Wait()
}
