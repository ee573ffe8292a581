package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/outbox-mta/outbox/config"
	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/mxresolve"
	"github.com/outbox-mta/outbox/queue"
	"github.com/outbox-mta/outbox/queue/submission"
	"github.com/outbox-mta/outbox/store"
)

// The compile-time checks that the concrete parts fit the interfaces their
// consumers define.
var (
	_ queue.Store       = (*store.DB)(nil)
	_ queue.Deliverer   = (*delivery.Deliverer)(nil)
	_ submission.Spool  = (*store.DB)(nil)
	_ submission.Waker  = (*queue.Queue)(nil)
	_ delivery.Resolver = (*mxresolve.Resolver)(nil)
)

// newSubmission builds the submission listener's server from cfg: it
// writes accepted messages to db and wakes q. Users and the certificate
// are read through lv, which a reload swaps.
func newSubmission(cfg *config.Config, db spool, q *queue.Queue, counters *listenerCounters, lv *live, log *slog.Logger) (*submission.Server, error) {
	opts := submission.Options{
		Hostname:                cfg.Hostname,
		MaxMessageSize:          cfg.Limits.MaxMessageSize.Bytes,
		MaxRecipients:           cfg.Limits.MaxRecipients,
		ReadTimeout:             cfg.Limits.ReadTimeout.Duration,
		WriteTimeout:            cfg.Limits.WriteTimeout.Duration,
		MaxConnections:          cfg.Limits.MaxConnections,
		DataTimeout:             cfg.Limits.DataTimeout.Duration,
		ReservedConnections:     cfg.Limits.ReservedConnections,
		MaxConnectionsPerClient: cfg.Limits.MaxConnectionsPerClient,
		ConnectionRate:          cfg.Limits.ConnectionRate,
		ConnectionRateWindow:    cfg.Limits.ConnectionRateWindow.Duration,
		PreAuthTimeout:          cfg.Limits.PreAuthTimeout.Duration,
		MaxJunkCommands:         cfg.Limits.MaxJunkCommands,
		Senders:                 &lv.senders,
		Priorities:              &lv.prio,
		Trusted:                 cfg.TrustedNetworks,
		AuthMaxFailures:         cfg.Limits.MaxAuthFailures,
		AuthFailureWindow:       cfg.Limits.AuthFailureWindow.Duration,
		Spool:                   db,
		IdempotencyRetention:    cfg.API.IdempotencyRetention.Duration,
		MaxHold:                 maxHold(cfg),
		Waker:                   q,
		Observer:                counters,
		Signer:                  &lv.dkim,
		Logger:                  log,
	}
	if lv.cert != nil {
		opts.TLSConfig = &tls.Config{GetCertificate: lv.cert.GetCertificate, MinVersion: tls.VersionTLS12}
	}
	if lv.users != nil {
		opts.Auth = lv.users
	}
	return submission.New(opts)
}

// newResolver builds the MX resolver and, unless delivery.dns_cache_size
// is 0, its cache.
func newResolver(cfg *config.Config, log *slog.Logger) *mxresolve.Resolver {
	d := cfg.Delivery
	r := &mxresolve.Resolver{
		Server:     d.Resolver,
		MaxHosts:   d.MaxHosts,
		Logger:     log,
		Validating: d.DNSSECValidating,
	}
	if d.DNSCacheSize > 0 {
		r.Cache = &mxresolve.Cache{
			Size:           d.DNSCacheSize,
			MinTTL:         d.DNSCacheMinTTL.Duration,
			MaxTTL:         d.DNSCacheMaxTTL.Duration,
			NegativeMinTTL: d.DNSCacheNegativeMinTTL.Duration,
			NegativeMaxTTL: d.DNSCacheNegativeMaxTTL.Duration,
		}
	}
	return r
}

// newDeliverer builds the outbound side: TLS, resolver, and the routes and
// relays of s (loaded by loadSettings; a reload replaces them).
func newDeliverer(cfg *config.Config, s *settings, resolver delivery.Resolver, db tlsStore, tr delivery.TLSReporter, log *slog.Logger) (*delivery.Deliverer, error) {
	d := cfg.Delivery
	mxPolicy, err := delivery.ParseTLSPolicy(d.TLSPolicy)
	if err != nil {
		return nil, fmt.Errorf("delivery.tls_policy: %w", err)
	}
	opts := delivery.Options{
		Hostname:    cfg.Hostname,
		Resolver:    resolver,
		Port:        d.Port,
		Routes:      s.routes,
		Relays:      s.relays,
		MXTLSPolicy: mxPolicy,
		Timeouts: delivery.Timeouts{
			Connect:      d.Timeouts.Connect.Duration,
			TLSHandshake: d.Timeouts.TLSHandshake.Duration,
			Greeting:     d.Timeouts.Greeting.Duration,
			Command:      d.Timeouts.Command.Duration,
			Mail:         d.Timeouts.Mail.Duration,
			Rcpt:         d.Timeouts.Rcpt.Duration,
			Data:         d.Timeouts.Data.Duration,
			DataBlock:    d.Timeouts.DataBlock.Duration,
			FinalDot:     d.Timeouts.FinalDot.Duration,
		},
		MaxPerDestination:  d.MaxPerDestination,
		MaxConns:           d.MaxConnections,
		IdleTimeout:        d.IdleTimeout.Duration,
		MaxMessagesPerConn: d.MaxMessagesPerConnection,
		MaxRcptsPerTx:      d.MaxRecipientsPerTransaction,
		Logger:             log,
	}
	if d.CAFile != "" {
		if opts.RootCAs, err = loadCAs(d.CAFile); err != nil {
			return nil, fmt.Errorf("delivery.ca_file: %w", err)
		}
	}
	if d.ExtraCAFile != "" {
		if opts.RootCAs, err = addCAs(opts.RootCAs, d.ExtraCAFile); err != nil {
			return nil, fmt.Errorf("delivery.extra_ca_file: %w", err)
		}
	}
	setTLSPolicies(&opts, cfg, db, resolver, log)
	opts.TLSReporter = tr
	if len(d.DomainTLSPolicies) > 0 {
		opts.DomainTLS = make(map[string]delivery.TLSPolicy, len(d.DomainTLSPolicies))
		for dom, p := range d.DomainTLSPolicies {
			if opts.DomainTLS[dom], err = delivery.ParseTLSPolicy(p); err != nil {
				return nil, fmt.Errorf("delivery.tls_policies.%s: %w", dom, err)
			}
		}
	}
	return delivery.New(opts), nil
}

// buildRelays maps the [relay.NAME] sections onto delivery's relay servers,
// loading their client certificates and CA files.
func buildRelays(cfg *config.Config) (map[string][]delivery.RelayServer, error) {
	if len(cfg.Relays) == 0 {
		return nil, nil
	}
	relays := make(map[string][]delivery.RelayServer, len(cfg.Relays))
	var errs []error
	for name, r := range cfg.Relays {
		for i, s := range r.Servers {
			rs, err := relayServer(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("relay.%s.server[%d]: %w", name, i, err))
				continue
			}
			relays[name] = append(relays[name], rs)
		}
	}
	return relays, errors.Join(errs...)
}

func relayServer(s config.RelayServer) (delivery.RelayServer, error) {
	rs := delivery.RelayServer{Host: s.Host, Port: s.Port, Username: s.Username, Password: s.Password}
	var err error
	if rs.TLSMode, err = delivery.ParseTLSMode(s.TLS); err != nil {
		return rs, err
	}
	if s.TLSPolicy != "" {
		if rs.TLSPolicy, err = delivery.ParseTLSPolicy(s.TLSPolicy); err != nil {
			return rs, err
		}
	}
	if s.ClientCert != "" {
		cert, err := tls.LoadX509KeyPair(s.ClientCert, s.ClientKey)
		if err != nil {
			return rs, fmt.Errorf("client_cert: %w", err)
		}
		rs.ClientCert = &cert
	}
	if s.CAFile != "" {
		if rs.RootCAs, err = loadCAs(s.CAFile); err != nil {
			return rs, fmt.Errorf("ca_file: %w", err)
		}
	}
	return rs, nil
}

func loadCAs(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate found", path)
	}
	return pool, nil
}

// queueOptions maps the delivery settings onto the scheduler's options.
func queueOptions(cfg *config.Config, log *slog.Logger) queue.Options {
	d := cfg.Delivery
	atLeastOne := d.AtLeastOne
	return queue.Options{
		Workers:          d.MaxConnections,
		AtLeastOne:       &atLeastOne,
		FirstRetry:       d.FirstRetry.Duration,
		MaxRetryInterval: d.MaxRetryInterval.Duration,
		MaxLifetime:      d.MaxLifetime.Duration,
		DSN:              d.DSN,
		Hostname:         cfg.Hostname,
		Logger:           log,
	}
}
