package delivery

import (
	"context"
	"sync"
)

// limiter bounds concurrent deliveries per destination and overall with
// context-aware counting semaphores.
type limiter struct {
	perDest int
	total   chan struct{}

	mu   sync.Mutex
	dest map[string]*destSem // removed when unused, so it does not grow with every domain ever seen
}

type destSem struct {
	ch   chan struct{}
	refs int // holders and waiters
}

func newLimiter(perDest, total int) *limiter {
	return &limiter{perDest: perDest, total: make(chan struct{}, total), dest: map[string]*destSem{}}
}

// acquire waits for a slot of key and then one overall. The destination's
// slot is taken first so that deliveries queued behind a busy destination
// do not hold overall slots while they wait.
func (l *limiter) acquire(ctx context.Context, key string) (release func(), err error) {
	l.mu.Lock()
	ds := l.dest[key]
	if ds == nil {
		ds = &destSem{ch: make(chan struct{}, l.perDest)}
		l.dest[key] = ds
	}
	ds.refs++
	l.mu.Unlock()

	unref := func() {
		l.mu.Lock()
		if ds.refs--; ds.refs == 0 {
			delete(l.dest, key)
		}
		l.mu.Unlock()
	}
	select {
	case ds.ch <- struct{}{}:
	case <-ctx.Done():
		unref()
		return nil, context.Cause(ctx)
	}
	select {
	case l.total <- struct{}{}:
	case <-ctx.Done():
		<-ds.ch
		unref()
		return nil, context.Cause(ctx)
	}
	return func() {
		<-l.total
		<-ds.ch
		unref()
	}, nil
}
