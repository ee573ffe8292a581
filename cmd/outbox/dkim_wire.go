package main

import (
	"fmt"

	"github.com/outbox-mta/outbox/config"
	"github.com/outbox-mta/outbox/delivery/dkim"
	"github.com/outbox-mta/outbox/queue/submission"
)

// buildDKIM turns [dkim] into signing keys; nil when no domain is
// configured. config.Load has already read and checked every key file.
func buildDKIM(cfg *config.Config) (*dkim.Keys, error) {
	if len(cfg.DKIM.Domains) == 0 {
		return nil, nil
	}
	domains := make([]dkim.Domain, len(cfg.DKIM.Domains))
	for i, d := range cfg.DKIM.Domains {
		domains[i] = dkim.Domain{Name: d.Domain, Headers: d.Headers, Expiry: d.Expiry.Duration}
		for _, k := range d.Keys {
			domains[i].Keys = append(domains[i].Keys, dkim.Key{Selector: k.Selector, Signer: k.Signer})
		}
	}
	keys, err := dkim.NewKeys(domains, cfg.DKIM.FallbackDomain, nil)
	if err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	return keys, nil
}

// dkimSigner is the listener's Signer: the current DKIM keys, which a
// reload replaces with Store (the embedded dkim.Holder).
type dkimSigner struct{ dkim.Holder }

var _ submission.Signer = (*dkimSigner)(nil)

// Sign implements submission.Signer.
func (s *dkimSigner) Sign(from string, fields []string) (submission.Signing, error) {
	sig, err := s.Holder.Sign(from, fields)
	if sig == nil || err != nil {
		return nil, err // never a typed nil inside the interface
	}
	return sig, nil
}
