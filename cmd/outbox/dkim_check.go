package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/outbox-mta/outbox/config"
	"github.com/outbox-mta/outbox/delivery/dkim"
)

// runDKIMCheck is `outbox dkim check --domain D --selector S [--config
// FILE] [--resolver ip:port]`: it looks up the selector's TXT record and
// says whether it publishes the configured key, and if not why: missing,
// revoked, syntax, or another key. Exit status 1 when it does not match.
func runDKIMCheck(ctx context.Context, c *cli, args []string) int {
	v := newVerbFlags(c, "dkim check")
	fs := v.fs
	domain := fs.String("domain", "", "signing `DOMAIN`, required")
	selector := fs.String("selector", "", "`SELECTOR`, required")
	path := fs.String("config", "", "configuration `FILE` holding the key")
	resolver := fs.String("resolver", "", "DNS server `ip:port` (default: delivery.resolver, else /etc/resolv.conf)")
	pos, code, ok := v.parse(args)
	if !ok {
		return code
	}
	if *domain == "" || *selector == "" || len(pos) > 0 {
		fmt.Fprintln(c.stderr, "outbox dkim check: --domain and --selector are required, and nothing else")
		fs.Usage()
		return exitUsage
	}
	cfg, err := config.Load(*path)
	if err != nil {
		printConfigError(c.stderr, *path, err)
		return exitError
	}
	d := strings.ToLower(strings.TrimSuffix(*domain, "."))
	var key *config.DKIMKey
	for i := range cfg.DKIM.Domains {
		dom := &cfg.DKIM.Domains[i]
		for j := range dom.Keys {
			if dom.Domain == d && strings.EqualFold(dom.Keys[j].Selector, *selector) {
				key = &dom.Keys[j]
			}
		}
	}
	if key == nil {
		fmt.Fprintf(c.stderr, "outbox dkim check: no key for domain %s selector %s in the configuration\n", d, *selector)
		return exitError
	}
	server := *resolver
	if server == "" {
		server = cfg.Delivery.Resolver
	}
	name := dkim.RecordName(*selector, d)
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	txts, err := dkim.Lookup(lctx, server, name)
	if err != nil {
		fmt.Fprintf(c.stderr, "%s: lookup failed: %v\n", name, err)
		return exitError
	}
	if err := dkim.Check(txts, key.Signer.Public()); err != nil {
		fmt.Fprintf(c.stdout, "%s: MISMATCH: %v\n", name, err)
		if errors.Is(err, dkim.ErrMissing) || errors.Is(err, dkim.ErrWrongKey) {
			if rec, rerr := dkim.Record(key.Signer.Public()); rerr == nil {
				fmt.Fprintf(c.stdout, "publish: %s\n", rec)
			}
		}
		return exitError
	}
	fmt.Fprintf(c.stdout, "%s: OK, the published record matches %s\n", name, key.KeyFile)
	return exitOK
}
