package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"strings"

	"github.com/outbox-mta/outbox/delivery/mtasts"
	"github.com/outbox-mta/outbox/mxresolve"
)

// writeSTSPolicy looks up the MTA-STS policy of domain as delivery does
// (RFC 8461: the _mta-sts TXT record, then the policy over HTTPS), without
// the daemon's cache, and writes it with whether each MX host matches.
func writeSTSPolicy(ctx context.Context, w io.Writer, f *probeFlags, roots *x509.CertPool, targets []probeTarget) {
	src := mtasts.New(mtasts.Options{
		Resolver: &mxresolve.Resolver{Server: f.resolver, Timeout: f.timeout},
		RootCAs:  roots, Timeout: f.timeout, Port: f.stsPort,
	})
	defer src.Close()
	r := src.Lookup(ctx, f.domain)
	fmt.Fprintf(w, "MTA-STS policy of %s:\n", f.domain)
	switch {
	case r.Policy == nil && r.Failure != nil:
		fmt.Fprintf(w, "  none in force: %s\n", r.Failure.Error())
	case r.Policy == nil:
		fmt.Fprintf(w, "  none (no _mta-sts.%s TXT record)\n", f.domain)
		if r.Note != "" {
			fmt.Fprintf(w, "  note: %s\n", r.Note)
		}
	default:
		p := r.Policy
		fmt.Fprintf(w, "  id %s, mode %s, max_age %s, mx %s\n", r.ID, p.Mode, p.MaxAge, strings.Join(p.MX, ", "))
		for _, t := range targets {
			verdict := "matches: TLS with a valid certificate required"
			if !p.Matches(t.host) {
				verdict = "matches no mx pattern: not used"
				if p.Mode != mtasts.ModeEnforce {
					verdict = "matches no mx pattern (" + string(p.Mode) + ": used, reported)"
				}
			}
			fmt.Fprintf(w, "  %s: %s\n", t.host, verdict)
		}
	}
	fmt.Fprintln(w)
}
