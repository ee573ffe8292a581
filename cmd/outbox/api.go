package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/outbox-mta/outbox/config"
	"github.com/outbox-mta/outbox/queue"
	"github.com/outbox-mta/outbox/queue/httpapi"
)

// newAPI builds the HTTP API, or nil when api.address is "". It takes
// the SMTP listener's limits, and its keys from lv (a reload swaps them).
func newAPI(cfg *config.Config, db spool, q *queue.Queue, keys []httpapi.Key, lv *live, log *slog.Logger) (*httpapi.Server, error) {
	a := cfg.API
	if a.Address == "" {
		return nil, nil
	}
	opts := httpapi.Options{
		Spool:                db,
		Waker:                q,
		Messages:             q.Ops(),
		Suppressions:         db,
		Events:               db,
		Hostname:             cfg.Hostname,
		TrustLoopback:        a.TrustLoopback,
		Keys:                 keys,
		MaxMessageSize:       cfg.Limits.MaxMessageSize.Bytes,
		MaxRecipients:        cfg.Limits.MaxRecipients,
		IdempotencyRetention: a.IdempotencyRetention.Duration,
		MaxHold:              maxHold(cfg),
		Rate:                 a.Rate,
		Burst:                a.Burst,
		MaxConnections:       a.MaxConnections,
		ReadTimeout:          a.ReadTimeout.Duration,
		WriteTimeout:         a.WriteTimeout.Duration,
		IdleTimeout:          a.IdleTimeout.Duration,
		Signer:               apiSigner{&lv.dkim},
		Logger:               log,
	}
	if a.TLS {
		if lv.cert == nil {
			return nil, errors.New("api.tls: needs tls.cert_file and tls.key_file")
		}
		opts.TLSConfig = &tls.Config{GetCertificate: lv.cert.GetCertificate, MinVersion: tls.VersionTLS12}
	}
	s, err := httpapi.New(opts)
	if err != nil {
		return nil, err
	}
	lv.api = s
	return s, nil
}

// maxHold bounds deliver_after (HTTP) and FUTURERELEASE (SMTP) so that a
// scheduled message, signed at acceptance, still carries a valid DKIM
// signature at the end of its lifetime: the shortest dkim expiry less
// delivery.max_lifetime, at most limits.max_hold; -1 (no scheduling)
// when that leaves nothing.
func maxHold(cfg *config.Config) time.Duration {
	hold := cfg.Limits.MaxHold.Duration
	for _, d := range cfg.DKIM.Domains {
		if exp := d.Expiry.Duration; exp > 0 {
			hold = min(hold, exp-cfg.Delivery.MaxLifetime.Duration)
		}
	}
	if hold <= 0 {
		return -1
	}
	return hold
}

// buildAPIKeys parses the [[api.keys]] hashes.
func buildAPIKeys(cfg *config.Config) ([]httpapi.Key, error) {
	keys := make([]httpapi.Key, 0, len(cfg.API.Keys))
	var errs []error
	for i, k := range cfg.API.Keys {
		h, err := httpapi.ParseKeyHash(k.Hash)
		if err != nil {
			errs = append(errs, fmt.Errorf("api.keys[%d].hash: %w", i, err))
			continue
		}
		keys = append(keys, httpapi.Key{Name: k.Name, Hash: h, IgnoreSuppressions: k.IgnoreSuppressions})
	}
	return keys, errors.Join(errs...)
}

// apiSigner is the API's Signer: the SMTP listener's DKIM keys, so a
// message is signed alike whichever way it came, and a reload swaps the
// keys of both.
type apiSigner struct{ keys *dkimSigner }

var _ httpapi.Signer = apiSigner{}

// Sign implements httpapi.Signer.
func (s apiSigner) Sign(from string, fields []string) (httpapi.Signing, error) {
	sig, err := s.keys.Holder.Sign(from, fields)
	if sig == nil || err != nil {
		return nil, err // never a typed nil inside the interface
	}
	return sig, nil
}
