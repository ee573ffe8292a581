package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"time"

	"github.com/outbox-mta/outbox/delivery/dane"
	"github.com/outbox-mta/outbox/delivery/probe"
	"github.com/outbox-mta/outbox/mxresolve"
)

// probeTLSA is what `outbox probe --domain --dnssec` found about one MX
// host's TLSA records.
type probeTLSA struct {
	name    string // "_25._tcp.mx.example.com"
	secure  bool   // the MX and address records were validated
	found   bool   // the TLSA answer was validated
	records []dane.Record
	err     error
}

// lookupProbeTLSA asks for h's TLSA records when --dnssec is given and h's
// MX and address records were validated (RFC 7672 §2.2); nil without
// --dnssec.
func lookupProbeTLSA(ctx context.Context, r *mxresolve.Resolver, h mxresolve.Host, f *probeFlags) *probeTLSA {
	if !f.dnssec {
		return nil
	}
	t := &probeTLSA{secure: h.Secure}
	if !h.Secure {
		return t
	}
	res, err := r.LookupTLSA(ctx, h.Name, 25)
	t.name, t.err = res.Name, err
	if err == nil && res.Secure {
		t.found, t.records = true, dane.FromDNS(res.Records)
	}
	return t
}

// options is the DANE check for the probe of host, as delivery makes it
// (reference identifiers: the MX host name, then the domain, RFC 7672
// §3.2.3); nil when DANE does not apply to the host.
func (t *probeTLSA) options(host, domain string) probe.DANECheck {
	if t == nil || !t.found || len(t.records) == 0 {
		return nil
	}
	return func(chain []*x509.Certificate) *probe.DANE {
		_, req := dane.Classify(t.records)
		d := &probe.DANE{TLSA: t.name, Requirement: req.String()}
		for _, r := range t.records {
			d.Records = append(d.Records, r.String())
		}
		if req != dane.RequireAuthentication {
			return d
		}
		m, err := dane.Verify(t.records, chain, []string{host, domain}, time.Now())
		if err != nil {
			d.Error = err.Error()
			return d
		}
		d.Verified, d.Match = true, m.String()
		return d
	}
}

// write prints the DANE part of a text report.
func (t *probeTLSA) write(w io.Writer, rep *probe.Report) {
	switch {
	case t == nil:
		return
	case !t.secure:
		fmt.Fprintln(w, "DANE: not used: the MX or address records are not DNSSEC-validated")
		return
	case t.err != nil:
		fmt.Fprintf(w, "DANE: TLSA lookup failed (delivery would not use this host, RFC 7672 §2.2): %v\n", t.err)
		return
	case !t.found:
		fmt.Fprintf(w, "DANE: not used: the TLSA answer for %s is not DNSSEC-validated\n", t.name)
		return
	case len(t.records) == 0:
		fmt.Fprintf(w, "DANE: not used: no TLSA records at %s\n", t.name)
		return
	}
	fmt.Fprintf(w, "TLSA %s:\n", t.name)
	for _, r := range t.records {
		fmt.Fprintf(w, "  %s\n", r)
	}
	var d *probe.DANE
	if rep.TLS != nil {
		d = rep.TLS.DANE
	}
	switch {
	case d == nil:
		fmt.Fprintln(w, "DANE: FAILED: no TLS, which the TLSA records make mandatory")
	case d.Requirement != dane.RequireAuthentication.String():
		fmt.Fprintf(w, "DANE: %s: TLS mandatory, not authenticated\n", d.Requirement)
	case d.Verified:
		fmt.Fprintf(w, "DANE: Verified (%s)\n", d.Match)
	default:
		fmt.Fprintf(w, "DANE: FAILED: %s\n", d.Error)
	}
}

// daneRequired reports whether the probe checked DANE with usable
// records: then DANE, not WebPKI, decides whether the host is
// authenticated (RFC 7672 §3).
func daneRequired(rep *probe.Report) bool {
	return rep.TLS != nil && rep.TLS.DANE != nil && rep.TLS.DANE.Requirement == dane.RequireAuthentication.String()
}
