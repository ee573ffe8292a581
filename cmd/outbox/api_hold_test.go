package main

import (
	"testing"
	"time"

	"github.com/outbox-mta/outbox/config"
	"github.com/outbox-mta/outbox/queue/httpapi"
)

// A scheduled message is signed at acceptance: the schedule plus the
// lifetime must stay within the shortest DKIM expiry.
func TestMaxHold(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		name    string
		expiry  []time.Duration
		want    time.Duration
		lifeDay int
	}{
		{"no dkim", nil, httpapi.DefaultMaxHold, 5},
		{"no expiry", []time.Duration{0}, httpapi.DefaultMaxHold, 5},
		{"long expiry", []time.Duration{90 * day}, httpapi.DefaultMaxHold, 5},
		{"shortest wins", []time.Duration{12 * day, 7 * day}, 2 * day, 5},
		{"no room", []time.Duration{5 * day}, -1, 5},
		{"limits.max_hold", nil, day, 5},
		{"limits.max_hold 0: off", nil, -1, 5},
	}
	for _, tt := range tests {
		cfg := config.Default()
		cfg.Delivery.MaxLifetime = config.D(time.Duration(tt.lifeDay) * day)
		switch tt.name {
		case "limits.max_hold":
			cfg.Limits.MaxHold = config.D(day)
		case "limits.max_hold 0: off":
			cfg.Limits.MaxHold = config.D(0)
		}
		for _, e := range tt.expiry {
			cfg.DKIM.Domains = append(cfg.DKIM.Domains, config.DKIMDomain{Expiry: config.D(e)})
		}
		if got := maxHold(cfg); got != tt.want {
			t.Errorf("%s: maxHold = %v, want %v", tt.name, got, tt.want)
		}
	}
}
