package queue

import (
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/store"
)

// TestGroupRetry: one retry time for the group, drawn from the first
// recipient the attempt defers (its attempt count after this attempt), and
// none when the attempt defers nobody.
func TestGroupRetry(t *testing.T) {
	q := &Queue{opts: Options{FirstRetry: 5 * time.Minute, MaxRetryInterval: 24 * time.Hour, MaxLifetime: 5 * 24 * time.Hour,
		Rand: func(n int64) int64 { return n / 2 }}}
	m := &store.Message{Received: t0, Recipients: []store.Recipient{
		{Addr: "a@x.test", State: store.StateDeferred, Attempts: 4},
		{Addr: "b@x.test", State: store.StateDeferred, Attempts: 2},
		{Addr: "c@x.test", State: store.StateQueued, Attempts: 0},
	}}
	g := group{Domain: "x.test", Rcpts: []string{"a@x.test", "b@x.test", "c@x.test"}, Index: []int{0, 1, 2}}
	out := func(sts ...delivery.Status) []delivery.RcptResult {
		var rs []delivery.RcptResult
		for i, st := range sts {
			rs = append(rs, delivery.RcptResult{Rcpt: g.Rcpts[i], Status: st})
		}
		return rs
	}
	now := t0.Add(time.Hour)
	D, F, B := delivery.Deferred, delivery.Delivered, delivery.Bounced
	tests := []struct {
		name      string
		outs      []delivery.RcptResult
		abandoned bool
		now       time.Time
		want      time.Time
	}{
		{"first deferred is b", out(F, D, D), false, now, nextAttempt(now, t0.Add(q.opts.MaxLifetime), 3, &q.opts)},
		{"first deferred is a", out(D, D, B), false, now, nextAttempt(now, t0.Add(q.opts.MaxLifetime), 5, &q.opts)},
		{"nobody deferred", out(F, B, F), false, now, time.Time{}},
		{"abandoned", out(D, D, D), true, now, time.Time{}},
		{"expired", out(D, D, D), false, t0.Add(6 * 24 * time.Hour), time.Time{}},
	}
	for _, tt := range tests {
		if got := q.groupRetry(m, g, tt.outs, tt.abandoned, tt.now); !got.Equal(tt.want) {
			t.Errorf("%s: groupRetry = %v, want %v", tt.name, got, tt.want)
		}
	}
	if a, b := nextAttempt(now, t0.Add(q.opts.MaxLifetime), 3, &q.opts), nextAttempt(now, t0.Add(q.opts.MaxLifetime), 5, &q.opts); a.Equal(b) {
		t.Fatalf("the cases cannot tell attempt counts apart: both %v", a)
	}
}
