package main

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/config"
	"github.com/outbox-mta/outbox/mxresolve"
)

// The resolver gets the [delivery] DNS cache settings, and no cache at all
// with dns_cache_size = 0.
func TestNewResolverDNSCache(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := config.Default()
	cfg.Delivery.DNSCacheSize = 500
	cfg.Delivery.DNSCacheMinTTL = config.D(time.Minute)
	r := newResolver(cfg, log)
	c := r.Cache
	if c == nil {
		t.Fatal("no cache with dns_cache_size = 500")
	}
	want := mxresolve.Cache{Size: 500, MinTTL: time.Minute, MaxTTL: time.Hour, NegativeMinTTL: 30 * time.Second, NegativeMaxTTL: 15 * time.Minute}
	if c.Size != want.Size || c.MinTTL != want.MinTTL || c.MaxTTL != want.MaxTTL ||
		c.NegativeMinTTL != want.NegativeMinTTL || c.NegativeMaxTTL != want.NegativeMaxTTL {
		t.Errorf("cache %+v, want the configured bounds %+v", c, &want)
	}

	cfg.Delivery.DNSCacheSize = 0
	if r := newResolver(cfg, log); r.Cache != nil {
		t.Error("a cache with dns_cache_size = 0")
	}
}
