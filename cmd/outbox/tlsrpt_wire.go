package main

import (
	"context"
	"log/slog"
	"net"

	"github.com/outbox-mta/outbox/config"
	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/delivery/tlspolicy"
	"github.com/outbox-mta/outbox/mxresolve"
	"github.com/outbox-mta/outbox/queue"
	"github.com/outbox-mta/outbox/queue/maintenance"
	"github.com/outbox-mta/outbox/queue/tlsrpt"
)

// tlsReports is TLS reporting (RFC 8460) as the daemon runs it: the
// recorder the deliveries feed (through ReportTLS), and the reporter the
// daily job runs. nil when tls_reports.enabled is false; its methods
// accept a nil receiver.
type tlsReports struct {
	rec *tlsrpt.Recorder
}

var _ delivery.TLSReporter = (*tlsReports)(nil)

// newTLSReports builds the recorder from cfg; nil when reporting is off.
func newTLSReports(cfg *config.Config, db tlsrpt.Store, log *slog.Logger) *tlsReports {
	if !cfg.TLSReports.Enabled {
		return nil
	}
	return &tlsReports{rec: tlsrpt.NewRecorder(tlsrpt.RecorderOptions{Store: db, Logger: log})}
}

// reporter is t as the deliverer's TLSReporter; a nil interface when t is
// nil.
func (t *tlsReports) reporter() delivery.TLSReporter {
	if t == nil {
		return nil
	}
	return t
}

// schedule builds the reporter and adds its daily job to the maintenance
// jobs.
func (t *tlsReports) schedule(cfg *config.Config, o *maintenance.Options, db spool, q *queue.Queue, r *mxresolve.Resolver, keys *dkimSigner) error {
	if t == nil {
		return nil
	}
	c := cfg.TLSReports
	from := c.From
	if from == "" {
		from = "postmaster@" + cfg.Hostname
	}
	rep, err := tlsrpt.NewReporter(tlsrpt.ReporterOptions{
		Store: db, Spool: db, Waker: q, Lookup: r.LookupTXT, Signer: reportSigner{keys},
		Submitter: cfg.Hostname, Organization: c.Organization, Contact: c.Contact, From: from,
		Logger: o.Logger,
	})
	if err != nil {
		return err
	}
	o.Schedules.TLSReports = cfg.Cron.TLSReports
	o.TLSReports = rep.Send
	return nil
}

// ReportTLS implements delivery.TLSReporter: one session, counted under
// its policy (RFC 8460 §4.4).
func (t *tlsReports) ReportTLS(s delivery.TLSSession) {
	o := s.Outcome
	pol := tlsrpt.Policy{Type: tlsrpt.PolicyNotFound, Domain: s.Domain, String: s.Policy.Strings, MXHost: s.Policy.MXHosts}
	switch s.Policy.Type {
	case tlspolicy.TypeDANE:
		pol.Type = tlsrpt.PolicyTLSA
	case tlspolicy.TypeMTASTS:
		pol.Type = tlsrpt.PolicySTS
	}
	if s.Policy.Domain != "" {
		pol.Domain = s.Policy.Domain
	}
	res := tlsrpt.Result{Policy: pol}
	if o.Failure != "" {
		res.Failure, res.Detail, res.MXHost = string(o.Failure), o.Detail, s.MXHost
		res.ReceivingIP = hostOf(s.Addr)
		res.SendingIP = hostOf(s.Local)
		if res.SendingIP == "" {
			res.SendingIP = sourceIP(res.ReceivingIP)
		}
	}
	t.rec.Record(res)
}

// run writes the recorded results until ctx ends.
func (t *tlsReports) run(ctx context.Context) {
	if t != nil {
		t.rec.Run(ctx) //nolint:errcheck // ends with ctx
	}
}

// flush writes what is recorded; called once deliveries have drained.
func (t *tlsReports) flush(ctx context.Context, log *slog.Logger) {
	if t == nil {
		return
	}
	if err := t.rec.Flush(ctx); err != nil {
		log.Warn("TLS report results lost", "component", "tlsrpt", "err", err)
	}
}

// reportSigner signs mailed reports with the listener's DKIM keys (a
// reload swaps them for both).
type reportSigner struct{ keys *dkimSigner }

var _ tlsrpt.Signer = reportSigner{}

// Sign implements tlsrpt.Signer.
func (s reportSigner) Sign(from string, fields []string) (tlsrpt.Signing, error) {
	sig, err := s.keys.Holder.Sign(from, fields)
	if sig == nil || err != nil {
		return nil, err // never a typed nil inside the interface
	}
	return sig, nil
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

// sourceIP is the address the kernel would send from to reach ip: a UDP
// "connection" sends nothing but picks the route and source address.
// For a session that failed before its own address was known.
func sourceIP(ip string) string {
	c, err := net.Dial("udp", net.JoinHostPort(ip, "9"))
	if err != nil {
		return ""
	}
	defer c.Close()
	return hostOf(c.LocalAddr().String())
}
