package queue

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// Bounce reason classes, the keys of Stats.BouncedBy. They sort a permanent
// failure by who decided it, which is what an operator acts on: a remote
// refusal, a recipient given up on, a domain that cannot receive mail, or a
// local rule.
// They are the event log's classes (store.BounceClass), so a count and an
// event of the same bounce agree.
const (
	BounceRemote5xx = store.ClassRemote5xx // the remote server answered 5xx
	BounceExpired   = store.ClassExpired   // the lifetime ran out (delivery.max_lifetime)
	BounceDNS       = store.ClassDNS       // NXDOMAIN, null MX (RFC 7505): no reply from any server
	BouncePolicy    = store.ClassPolicy    // a local permanent decision without a remote reply
)

// bounceClass sorts a permanent failure into one of the Bounce* classes
// (store.BounceClass, which table-tests the rule).
func bounceClass(expired bool, code int, enhanced string) string {
	if expired {
		return BounceExpired
	}
	return store.BounceClass(code, enhanced)
}

// tlsClass reduces a Result.TLS text ("TLS1.3 TLS_AES_128_GCM_SHA256
// verified", "none") to its protocol version, the label TLS usage is
// counted by; "" (no host reached) is "none".
func tlsClass(s string) string {
	v, _, _ := strings.Cut(s, " ")
	if v == "" {
		return "none"
	}
	return v
}

// DurationBuckets are the upper bounds, in seconds, of the attempt duration
// histogram: from a reused session's fast transaction to the RFC 5321
// ten-minute final-dot wait.
func DurationBuckets() []float64 {
	return []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}
}

// Histogram is a snapshot of attempt durations: Counts[i] is the number of
// attempts that took at most Bounds[i] seconds (cumulative, as Prometheus
// expects); Count and Sum cover every attempt, the slowest included.
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Count  uint64
	Sum    float64 // seconds
}

// histogram counts durations into DurationBuckets without locks.
type histogram struct {
	bounds  []float64
	buckets []atomic.Uint64 // per bucket, not cumulative; last is +Inf
	sumNs   atomic.Int64
}

func newHistogram() *histogram {
	b := DurationBuckets()
	return &histogram{bounds: b, buckets: make([]atomic.Uint64, len(b)+1)}
}

func (h *histogram) observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(h.bounds) && s > h.bounds[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.sumNs.Add(int64(d))
}

func (h *histogram) snapshot() Histogram {
	out := Histogram{Bounds: h.bounds, Counts: make([]uint64, len(h.bounds))}
	var cum uint64
	for i := range h.buckets {
		cum += h.buckets[i].Load()
		if i < len(h.bounds) {
			out.Counts[i] = cum
		}
	}
	out.Count = cum
	out.Sum = time.Duration(h.sumNs.Load()).Seconds()
	return out
}

// labelCounts counts events by a small set of labels (TLS versions, bounce
// classes). A mutex is enough: it is taken once per attempt or bounce.
type labelCounts struct {
	mu sync.Mutex
	n  map[string]uint64
}

func (c *labelCounts) add(label string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]uint64{}
	}
	c.n[label]++
}

func (c *labelCounts) snapshot() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]uint64, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}
