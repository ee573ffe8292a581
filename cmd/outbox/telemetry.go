package main

import (
	"sync/atomic"

	"github.com/outbox-mta/outbox/queue/metrics"
	"github.com/outbox-mta/outbox/queue/submission"
)

// listenerCounters counts the submission listener's traffic for the
// metrics: it is the listener's Observer and the metrics' Listener.
type listenerCounters struct {
	conns    atomic.Int64
	accepted atomic.Uint64
}

var (
	_ submission.Observer = (*listenerCounters)(nil)
	_ metrics.Listener    = (*listenerCounters)(nil)
)

func (c *listenerCounters) ConnOpened() { c.conns.Add(1) }
func (c *listenerCounters) ConnClosed() { c.conns.Add(-1) }
func (c *listenerCounters) Accepted()   { c.accepted.Add(1) }

// ListenerStats reads the counters.
func (c *listenerCounters) ListenerStats() metrics.ListenerStats {
	return metrics.ListenerStats{Accepted: c.accepted.Load(), ConnsOpen: int(c.conns.Load())}
}
