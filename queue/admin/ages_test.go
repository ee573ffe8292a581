package admin

import (
	"slices"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/store"
)

func TestAgeBucket(t *testing.T) {
	tests := []struct {
		age  time.Duration
		want int
	}{
		{0, 0}, {4*time.Minute + 59*time.Second, 0}, {5 * time.Minute, 1}, {19 * time.Minute, 2},
		{time.Hour, 4}, {1279 * time.Minute, 8}, {1280 * time.Minute, 9}, {30 * 24 * time.Hour, 9},
	}
	for _, tt := range tests {
		if got := ageBucket(tt.age); got != tt.want {
			t.Errorf("ageBucket(%v) = %d, want %d", tt.age, got, tt.want)
		}
	}
}

func TestAgeTally(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	msg := func(age time.Duration, rcpts ...store.Recipient) *store.Message {
		return &store.Message{Received: now.Add(-age), Recipients: rcpts}
	}
	q := func(addr string) store.Recipient { return store.Recipient{Addr: addr, State: store.StateDeferred} }
	tl := newAgeTally(now)
	tl.add([]*store.Message{
		msg(time.Minute, q("a@x.test"), q("b@X.test"), store.Recipient{Addr: "c@x.test", State: store.StateDelivered}),
		msg(2*time.Hour, q("a@y.test")),
	})
	tl.add([]*store.Message{msg(48*time.Hour, q("z@x.test"), store.Recipient{Addr: "h@y.test", State: store.StateHeld})})
	a := tl.table()
	if len(a.Buckets) != 10 || a.Buckets[0] != "5" || a.Buckets[9] != "1280+" {
		t.Errorf("buckets %v", a.Buckets)
	}
	want := []DomainAges{
		{Domain: "x.test", Total: 3, Counts: []int{2, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
		{Domain: "y.test", Total: 2, Counts: []int{0, 0, 0, 0, 0, 1, 0, 0, 0, 1}},
	}
	if len(a.Domains) != 2 {
		t.Fatalf("domains %+v", a.Domains)
	}
	for i := range want {
		if a.Domains[i].Domain != want[i].Domain || a.Domains[i].Total != want[i].Total || !slices.Equal(a.Domains[i].Counts, want[i].Counts) {
			t.Errorf("row %d: %+v, want %+v", i, a.Domains[i], want[i])
		}
	}
	if a.Total.Total != 5 || !slices.Equal(a.Total.Counts, []int{2, 0, 0, 0, 0, 1, 0, 0, 0, 2}) {
		t.Errorf("total %+v", a.Total)
	}
}
