package queue

import (
	"math"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/store"
)

func TestBackoff(t *testing.T) {
	low := func(n int64) int64 { return 0 }      // -10 %
	mid := func(n int64) int64 { return n / 2 }  // no jitter
	high := func(n int64) int64 { return n - 1 } // +10 %
	first, capd := 5*time.Minute, 4000*time.Second
	tests := []struct {
		name     string
		attempts int
		rnd      func(int64) int64
		want     time.Duration
	}{
		{"first retry", 1, mid, 5 * time.Minute},
		{"second doubles", 2, mid, 10 * time.Minute},
		{"third", 3, mid, 20 * time.Minute},
		{"fourth", 4, mid, 40 * time.Minute},
		{"fifth capped", 5, mid, 4000 * time.Second},
		{"far past cap, no overflow", 500, mid, 4000 * time.Second},
		{"max int attempts", math.MaxInt, mid, 4000 * time.Second},
		{"zero attempts treated as first", 0, mid, 5 * time.Minute},
		{"jitter low", 1, low, 4*time.Minute + 30*time.Second},
		{"jitter high", 1, high, 5*time.Minute + 30*time.Second},
		{"jitter low at cap", 9, low, 3600 * time.Second},
		{"jitter high at cap stays capped", 9, high, 4000 * time.Second},
		{"no rand", 2, nil, 10 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Backoff(tt.attempts, first, capd, tt.rnd); got != tt.want {
				t.Errorf("Backoff(%d) = %v, want %v", tt.attempts, got, tt.want)
			}
		})
	}
}

// TestBackoffIntegerExact checks odd durations keep every nanosecond: a
// float factor would round them.
func TestBackoffIntegerExact(t *testing.T) {
	first := 7*time.Second + 3 // 7.000000003s
	mid := func(n int64) int64 { return n / 2 }
	for a := 1; a <= 20; a++ {
		want := min(first<<(a-1), time.Hour)
		if got := Backoff(a, first, time.Hour, mid); got != want {
			t.Fatalf("Backoff(%d) = %d, want %d", a, got, want)
		}
	}
}

func TestBackoffJitterRange(t *testing.T) {
	first := 5 * time.Minute
	var seen []int64
	rnd := func(n int64) int64 { seen = append(seen, n); return n - 1 }
	Backoff(1, first, time.Hour, rnd)
	if len(seen) != 1 || seen[0] != 2*int64(first/10)+1 {
		t.Fatalf("rand asked for %v, want [%d] (uniform over ±d/10)", seen, 2*int64(first/10)+1)
	}
}

func TestNextAttemptCappedAtExpiry(t *testing.T) {
	o := Options{FirstRetry: 5 * time.Minute, MaxRetryInterval: time.Hour, MaxLifetime: 2 * time.Hour,
		Rand: func(n int64) int64 { return n / 2 }}
	end := t0.Add(o.MaxLifetime)
	tests := []struct {
		now      time.Time
		attempts int
		want     time.Time
	}{
		{t0, 1, t0.Add(5 * time.Minute)},
		{t0.Add(90 * time.Minute), 5, t0.Add(2 * time.Hour)}, // +1h would pass the deadline
		{t0.Add(119 * time.Minute), 1, t0.Add(2 * time.Hour)},
	}
	for _, tt := range tests {
		if got := nextAttempt(tt.now, end, tt.attempts, &o); !got.Equal(tt.want) {
			t.Errorf("nextAttempt(%v, %d) = %v, want %v", tt.now, tt.attempts, got, tt.want)
		}
	}
}

func TestExpired(t *testing.T) {
	tests := []struct {
		age      time.Duration
		lifetime time.Duration
		want     bool
	}{
		{0, time.Hour, false},
		{time.Hour - 1, time.Hour, false},
		{time.Hour, time.Hour, true},
		{5 * 24 * time.Hour, time.Hour, true},
		{5 * 24 * time.Hour, 0, false}, // no lifetime: never
	}
	for _, tt := range tests {
		if got := expired(deadline(&store.Message{Received: t0}, tt.lifetime), t0.Add(tt.age)); got != tt.want {
			t.Errorf("expired(age %v, lifetime %v) = %v, want %v", tt.age, tt.lifetime, got, tt.want)
		}
	}
}

// The lifetime counts from the scheduled send time, and an ExpireAt
// earlier than the lifetime's end wins.
func TestDeadline(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		name     string
		m        store.Message
		lifetime time.Duration
		want     time.Time
	}{
		{"from reception", store.Message{Received: t0}, day, t0.Add(day)},
		{"from the scheduled time", store.Message{Received: t0, DeliverAfter: t0.Add(time.Hour)}, day, t0.Add(time.Hour + day)},
		{"schedule in the past", store.Message{Received: t0, DeliverAfter: t0.Add(-time.Hour)}, day, t0.Add(day)},
		{"expire_at earlier", store.Message{Received: t0, ExpireAt: t0.Add(time.Hour)}, day, t0.Add(time.Hour)},
		{"expire_at later", store.Message{Received: t0, ExpireAt: t0.Add(2 * day)}, day, t0.Add(day)},
		{"expire_at, no lifetime", store.Message{Received: t0, ExpireAt: t0.Add(time.Hour)}, 0, t0.Add(time.Hour)},
		{"neither", store.Message{Received: t0}, 0, time.Time{}},
	}
	for _, tt := range tests {
		if got := deadline(&tt.m, tt.lifetime); !got.Equal(tt.want) {
			t.Errorf("%s: deadline = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestWarmupAllowance(t *testing.T) {
	win := time.Minute
	tests := []struct {
		name     string
		elapsed  time.Duration
		rate     int
		used     int
		wantN    int
		wantNext time.Duration // after start; meaningful when wantN == 0
		wantOK   bool
	}{
		{"one at once", 0, 10, 0, 1, 0, true},
		{"then wait a tenth of a second", 0, 10, 1, 0, 100 * time.Millisecond, true},
		{"after one second, eleven in all", time.Second, 10, 1, 10, 0, true},
		{"all used until the next token", time.Second + 50*time.Millisecond, 10, 11, 0, 1100 * time.Millisecond, true},
		{"next token capped at window end", 59 * time.Second, 1, 60, 0, time.Minute, true},
		{"window over", time.Minute, 10, 5000, 0, 0, false},
		{"rate above a nanosecond each", 0, 2_000_000_000, 1, 0, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, next, ok := warmupAllowance(t0, t0.Add(tt.elapsed), win, tt.rate, tt.used)
			if n != tt.wantN || ok != tt.wantOK {
				t.Fatalf("got n=%d ok=%v, want n=%d ok=%v", n, ok, tt.wantN, tt.wantOK)
			}
			if ok && n == 0 && !next.Equal(t0.Add(tt.wantNext)) {
				t.Errorf("next = %v after start, want %v", next.Sub(t0), tt.wantNext)
			}
		})
	}
	if _, _, ok := warmupAllowance(t0, t0, -1, 10, 0); ok {
		t.Error("a negative window must disable the spread")
	}
}
