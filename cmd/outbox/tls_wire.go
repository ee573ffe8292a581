package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"

	"github.com/outbox-mta/outbox/config"
	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/delivery/dane"
	"github.com/outbox-mta/outbox/delivery/mtasts"
	"github.com/outbox-mta/outbox/delivery/tlspolicy"
	"github.com/outbox-mta/outbox/queue/admin"
	"github.com/outbox-mta/outbox/store"
	"github.com/outbox-mta/outbox/store/pgstore"
)

// setTLSPolicies fills the TLS policy options of the deliverer: the policy
// sources (MTA-STS; DANE goes first in the chain, taking precedence) and
// the downgrade memory, both kept in the spool.
func setTLSPolicies(opts *delivery.Options, cfg *config.Config, db tlsStore, resolver delivery.Resolver, log *slog.Logger) {
	d := cfg.Delivery
	var chain tlspolicy.Chain
	// DANE first: it takes precedence over MTA-STS (RFC 8461 §2).
	if r, ok := resolver.(dane.Resolver); ok && d.DNSSECValidating {
		chain = append(chain, &dane.Source{Resolver: r, Port: uint16(d.Port)})
	}
	if txt, ok := resolver.(mtasts.Resolver); ok && d.MTASTS {
		chain = append(chain, mtasts.New(mtasts.Options{
			Resolver: txt, Cache: db, RootCAs: opts.RootCAs,
			Timeout: d.Timeouts.Connect.Duration, Port: d.MTASTSPort, Logger: log,
		}))
	}
	if len(chain) > 0 {
		opts.TLSPolicies = chain
	}
	if d.TLSMemory && db != nil {
		opts.TLSMemory = tlsMemory{db}
	}
}

// tlsStore is the outbound TLS state a spool keeps: the MTA-STS policy
// cache and the downgrade memory. Both backends satisfy it.
type tlsStore interface {
	mtasts.Cache
	TLSLevel(ctx context.Context, domain string) (uint8, error)
	RaiseTLSLevel(ctx context.Context, domain string, level uint8) error
	ResetTLSLevel(ctx context.Context, domain string) (bool, error)
	TLSLevels(ctx context.Context) (map[string]uint8, error)
}

// tlsMemory is the downgrade memory in the spool (delivery.TLSMemory).
type tlsMemory struct{ db tlsStore }

var (
	_ delivery.TLSMemory = tlsMemory{}
	_ tlsStore           = (*store.DB)(nil)
	_ tlsStore           = (*pgstore.DB)(nil)
)

func (m tlsMemory) TLSLevel(ctx context.Context, domain string) (tlspolicy.Level, error) {
	l, err := m.db.TLSLevel(ctx, domain)
	return tlspolicy.Level(l), err
}

func (m tlsMemory) RaiseTLSLevel(ctx context.Context, domain string, l tlspolicy.Level) error {
	return m.db.RaiseTLSLevel(ctx, domain, uint8(l))
}

// adminTLS is the downgrade memory as the admin API shows it; nil when
// delivery.tls_memory is off.
func adminTLS(cfg *config.Config, db tlsStore) admin.TLSMemory {
	if !cfg.Delivery.TLSMemory {
		return nil
	}
	return tlsMemory{db}
}

var _ admin.TLSMemory = tlsMemory{}

func (m tlsMemory) TLSLevels(ctx context.Context) (map[string]string, error) {
	levels, err := m.db.TLSLevels(ctx)
	out := make(map[string]string, len(levels))
	for d, l := range levels {
		out[d] = tlspolicy.Level(l).String()
	}
	return out, err
}

func (m tlsMemory) ResetTLSLevel(ctx context.Context, domain string) (bool, error) {
	return m.db.ResetTLSLevel(ctx, domain)
}

// addCAs returns pool (nil: a copy of the system roots) with the PEM
// certificates of path added.
func addCAs(pool *x509.CertPool, path string) (*x509.CertPool, error) {
	if pool == nil {
		var err error
		if pool, err = x509.SystemCertPool(); err != nil {
			return nil, err
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate found", path)
	}
	return pool, nil
}
