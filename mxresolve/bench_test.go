package mxresolve_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/outbox-mta/outbox/mxresolve"
	"github.com/outbox-mta/outbox/mxresolve/dnstest"
)

// BenchmarkLookup compares a Lookup answered by the Cache with one that
// asks the server (one MX, one A and one AAAA query over loopback UDP):
//
//	go test -run '^$' -bench Lookup -benchtime 2000x ./mxresolve/
func BenchmarkLookup(b *testing.B) {
	s := &dnstest.Server{Zone: dnstest.Zone(b,
		"bench.test. 3600 SOA ns.bench.test. admin.bench.test. 1 7200 900 1209600 3600",
		"bench.test. 3600 MX 10 mx1.bench.test.",
		"bench.test. 3600 MX 20 mx2.bench.test.",
		"mx1.bench.test. 3600 A 127.0.0.2",
		"mx2.bench.test. 3600 A 127.0.0.3",
	)}
	s.Start(b)
	for _, bc := range []struct {
		name  string
		cache *mxresolve.Cache
	}{
		{"uncached", nil},
		{"cached", &mxresolve.Cache{}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := &mxresolve.Resolver{Server: s.Addr(), Cache: bc.cache, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Lookup(ctx, "bench.test"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
