package main

import (
	"context"
	"log/slog"
	"testing"

	"github.com/outbox-mta/outbox/config"
	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/mxresolve"
	"github.com/outbox-mta/outbox/mxresolve/dnstest"
)

// The shaper matches MX suffixes on the resolver's answer for domains
// delivered direct, and never looks up one routed to a relay.
func TestShaperLooksUpDirectDomainsOnly(t *testing.T) {
	dns := &dnstest.Server{Zone: dnstest.Zone(t,
		"corp.test. MX 10 aspmx.l.google.com.",
		"relayed.test. MX 10 aspmx.l.google.com.",
		"aspmx.l.google.com. A 127.0.0.9",
	)}
	dns.Start(t)
	r := &mxresolve.Resolver{Server: dns.Addr()}
	del := delivery.New(delivery.Options{Resolver: r,
		Routes: map[string]string{"relayed.test": "p"},
		Relays: map[string][]delivery.RelayServer{"p": {{Host: "smtp.example"}}}})
	cfg := config.Default()
	sh := newShaper(cfg, r, del, slog.New(slog.DiscardHandler))
	if d := sh.Resolve(context.Background(), "corp.test"); d.Key != "gmail" {
		t.Errorf("corp.test (MX at Google) has budget %q, want the gmail preset", d.Key)
	}
	if d := sh.Resolve(context.Background(), "relayed.test"); d.Key != "relayed.test" {
		t.Errorf("relayed.test has budget %q, want its own (not looked up)", d.Key)
	}
}
