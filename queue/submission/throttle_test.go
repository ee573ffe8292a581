package submission

import (
	"net/netip"
	"testing"
	"time"
)

func TestThrottle(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	th := newThrottle(3, time.Minute, func() time.Time { return now })
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for i := range 3 {
		if th.blocked(a) {
			t.Fatalf("blocked after %d failures, limit 3", i)
		}
		th.fail(a)
	}
	if !th.blocked(a) {
		t.Fatal("not blocked after 3 failures")
	}
	if th.blocked(b) {
		t.Fatal("another address is blocked too")
	}
	now = now.Add(59 * time.Second)
	if !th.blocked(a) {
		t.Fatal("unblocked before the window ended")
	}
	now = now.Add(time.Second)
	if th.blocked(a) {
		t.Fatal("still blocked after the window")
	}
	th.fail(a)
	if th.blocked(a) {
		t.Fatal("a failure in a new window counted the old ones")
	}
}

func TestThrottleSweeps(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	th := newThrottle(3, time.Minute, func() time.Time { return now })
	for i := range sweepAt {
		th.fail(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
	}
	now = now.Add(time.Hour)
	th.fail(netip.MustParseAddr("192.0.2.1"))
	if n := len(th.seen); n != 1 {
		t.Fatalf("table has %d entries after the sweep, want 1", n)
	}
}
