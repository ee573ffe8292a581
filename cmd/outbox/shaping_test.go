package main

import (
	"context"
	"log/slog"
	"testing"

	"github.com/outbox-mta/outbox/config"
	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/mxresolve"
	"github.com/outbox-mta/outbox/mxresolve/dnstest"
	"github.com/outbox-mta/outbox/queue/shaping"
	"github.com/outbox-mta/outbox/store"
	"github.com/outbox-mta/outbox/store/pgstore"
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

// TestShapingStateFollowsTheSpool: a bbolt spool keeps shaping and the
// down list in this process's memory; a PostgreSQL spool shares both
// through the database.
func TestShapingStateFollowsTheSpool(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	cfg := config.Default()
	r := &mxresolve.Resolver{}
	del := delivery.New(delivery.Options{Resolver: r})
	bolt, err := store.Open(t.TempDir(), store.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer bolt.Close()
	if sh, down := shapingState(cfg, r, del, bolt, quiet); down != nil {
		t.Errorf("bbolt: a down list %T, want the queue's own (nil)", down)
	} else if _, ok := sh.(*shaping.Shaper); !ok {
		t.Errorf("bbolt: shaper %T, want *shaping.Shaper", sh)
	}
	pgdb, err := pgstore.Open(t.Context(), pg.Get(t).NewDatabase(t), pgstore.Options{Logger: quiet, ScratchDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer pgdb.Close()
	sh, down := shapingState(cfg, r, del, pgdb, quiet)
	if _, ok := sh.(*shaping.Shared); !ok {
		t.Errorf("postgres: shaper %T, want *shaping.Shared", sh)
	}
	if _, ok := down.(*pgstore.Backoffs); !ok {
		t.Errorf("postgres: down list %T, want *pgstore.Backoffs", down)
	}
}
