package config

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"30s", 30 * time.Second, false},
		{"5m", 5 * time.Minute, false},
		{"4000s", 4000 * time.Second, false},
		{"1h30m", 90 * time.Minute, false},
		{"5d", 5 * 24 * time.Hour, false},
		{"1d12h", 36 * time.Hour, false},
		{" 7d ", 7 * 24 * time.Hour, false},
		{"0s", 0, false},
		{"0", 0, false},
		{"-5m", -5 * time.Minute, false}, // parses; Validate rejects it
		{"", 0, true},
		{"5", 0, true},
		{"5 minutes", 0, true},
		{"1d-1h", 0, true},
		{"d", 0, true},
		{"1w", 0, true},
		{"99999999999d", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, error %t", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestDurationString(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{30 * time.Second, "30s"},
		{5 * time.Minute, "5m"},
		{4000 * time.Second, "1h6m40s"},
		{4 * time.Hour, "4h"},
		{5 * 24 * time.Hour, "5d"},
		{36 * time.Hour, "36h"},
		{1500 * time.Millisecond, "1.5s"},
	}
	for _, tt := range tests {
		got := D(tt.d).String()
		if got != tt.want {
			t.Errorf("Duration(%v).String() = %q, want %q", tt.d, got, tt.want)
		}
		back, err := ParseDuration(got)
		if err != nil || back != tt.d {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v (round trip)", got, back, err, tt.d)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"25MiB", 25 << 20, false},
		{"25 MiB", 25 << 20, false},
		{"25mib", 25 << 20, false},
		{"512KiB", 512 << 10, false},
		{"1GiB", 1 << 30, false},
		{"10MB", 10_000_000, false},
		{"1kb", 1000, false},
		{"100B", 100, false},
		{"4096", 4096, false},
		{"-1MiB", -1 << 20, false}, // parses; Validate rejects it
		{"", 0, true},
		{"25 megs", 0, true},
		{"1.5MiB", 0, true},
		{"MiB", 0, true},
		{"99999999999GiB", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseSize(%q) = %v, %v; want %v, error %t", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestSizeString(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{25 << 20, "25MiB"},
		{512 << 10, "512KiB"},
		{2 << 30, "2GiB"},
		{1000, "1000B"},
		{0, "0B"},
	}
	for _, tt := range tests {
		if got := (Size{Bytes: tt.n}).String(); got != tt.want {
			t.Errorf("Size(%d).String() = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestDurationUnmarshalTextStrict(t *testing.T) {
	var d Duration
	if err := d.UnmarshalText([]byte("nope")); err == nil {
		t.Fatal("UnmarshalText accepted an invalid duration")
	}
	if err := d.UnmarshalText([]byte("2d")); err != nil || d.Duration != 48*time.Hour {
		t.Fatalf("UnmarshalText(2d) = %v, %v", d.Duration, err)
	}
}
