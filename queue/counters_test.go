package queue

import (
	"testing"
	"time"
)

func TestBounceClass(t *testing.T) {
	tests := []struct {
		expired  bool
		code     int
		enhanced string
		want     string
	}{
		{true, 450, "4.4.7", BounceExpired},
		{false, 550, "5.1.1", BounceRemote5xx},
		{false, 554, "", BounceRemote5xx},
		{false, 0, "5.1.2", BounceDNS},
		{false, 0, "5.1.10", BounceDNS},
		{false, 0, "5.4.4", BounceDNS},
		{false, 0, "5.7.1", BouncePolicy},
		{false, 0, "", BouncePolicy},
	}
	for _, tt := range tests {
		if got := bounceClass(tt.expired, tt.code, tt.enhanced); got != tt.want {
			t.Errorf("bounceClass(%t, %d, %q) = %q, want %q", tt.expired, tt.code, tt.enhanced, got, tt.want)
		}
	}
}

func TestTLSClass(t *testing.T) {
	for in, want := range map[string]string{
		"TLS1.3 TLS_AES_128_GCM_SHA256 verified": "TLS1.3",
		"TLS1.2 ECDHE-RSA":                       "TLS1.2",
		"none":                                   "none",
		"":                                       "none",
	} {
		if got := tlsClass(in); got != want {
			t.Errorf("tlsClass(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHistogram(t *testing.T) {
	h := newHistogram()
	for _, d := range []time.Duration{10 * time.Millisecond, 700 * time.Millisecond, time.Second, time.Hour} {
		h.observe(d)
	}
	s := h.snapshot()
	want := map[float64]uint64{0.05: 1, 0.5: 1, 1: 3, 600: 3}
	for i, b := range s.Bounds {
		if w, ok := want[b]; ok && s.Counts[i] != w {
			t.Errorf("bucket le=%g: %d, want %d", b, s.Counts[i], w)
		}
	}
	if s.Count != 4 {
		t.Errorf("count %d, want 4", s.Count)
	}
	if wantSum := (10*time.Millisecond + 1700*time.Millisecond + time.Hour).Seconds(); s.Sum != wantSum {
		t.Errorf("sum %g, want %g", s.Sum, wantSum)
	}
}
