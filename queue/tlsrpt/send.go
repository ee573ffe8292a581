package tlsrpt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// Spool is where mailed reports are queued, as the listener queues mail;
// *store.DB satisfies it.
type Spool interface {
	NewBody() (*store.Body, error)
	Enqueue(ctx context.Context, m *store.Message, b *store.Body) error
}

// Waker is told of every commit (nil: committed) so the report goes out
// at once; *queue.Queue satisfies it.
type Waker interface{ Spooled(err error) }

var _ Spool = (*store.DB)(nil)

// Signer DKIM-signs a report mail (RFC 8460 §5.3 wants mailed reports
// signed by the reporting domain); the daemon's DKIM keys satisfy it, as
// for the listener. Sign gets the From value and the header field names;
// nil, nil means no key for that domain.
type Signer interface {
	Sign(from string, fields []string) (Signing, error)
}

// Signing receives the message as it is spooled; Finish returns the header
// fields to store in front of it and labels for operators.
type Signing interface {
	io.Writer
	Finish() (prefix []byte, labels []string, err error)
	Abort()
}

// TXTLookup returns the TXT strings at name; none (and no error) for
// NXDOMAIN or NODATA. delivery/dkim.Lookup fits it.
type TXTLookup func(ctx context.Context, name string) ([]string, error)

// ReporterOptions configure NewReporter.
type ReporterOptions struct {
	Store  Store     // required
	Spool  Spool     // required for mailto: destinations
	Waker  Waker     // optional
	Signer Signer    // optional: mailed reports leave unsigned without it
	Lookup TXTLookup // required
	// HTTP posts to https: destinations. Default: a client with a 1-minute
	// timeout.
	HTTP *http.Client
	// Submitter is our host name (TLS-Report-Submitter, the report-id's
	// domain); Organization and Contact fill the report's
	// organization-name and contact-info; From is the address reports are
	// mailed from, and their envelope sender.
	Submitter, Organization, Contact, From string
	// MaxSize: a gzipped report larger than this is not sent. Default
	// 1 MiB.
	MaxSize int
	Now     func() time.Time // default time.Now
	Logger  *slog.Logger     // default slog.Default()
}

// Reporter sends the aggregate reports of finished days.
type Reporter struct {
	opts ReporterOptions
	log  *slog.Logger
}

// NewReporter checks opts and makes a Reporter.
func NewReporter(opts ReporterOptions) (*Reporter, error) {
	if opts.Store == nil || opts.Lookup == nil || opts.Spool == nil {
		return nil, errors.New("tlsrpt: ReporterOptions.Store, Spool and Lookup are required")
	}
	if opts.Submitter == "" || opts.From == "" {
		return nil, errors.New("tlsrpt: ReporterOptions.Submitter and From are required")
	}
	if opts.HTTP == nil {
		opts.HTTP = &http.Client{Timeout: time.Minute}
	}
	if opts.MaxSize <= 0 {
		opts.MaxSize = 1 << 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Reporter{opts: opts, log: opts.Logger.With("component", "tlsrpt")}, nil
}

// Send reports every finished day (before today, UTC) kept in the spool:
// for each policy domain it asks "_smtp._tls.DOMAIN" for the rua
// destinations (RFC 8460 §3), builds the report, and mails it through our
// own queue or posts it. The day's aggregate is then removed whatever
// became of it: reports are best effort (RFC 8460 §5.4 lets a sender drop
// them), and a domain that is failing or publishes nothing must not make
// the spool grow. A DNS failure keeps the aggregate for the next run.
func (rp *Reporter) Send(ctx context.Context) error {
	today := rp.opts.Now().UTC().Format(time.DateOnly)
	aggs, err := rp.opts.Store.TLSReports(ctx, today)
	if err != nil {
		return fmt.Errorf("tlsrpt: %w", err)
	}
	var errs []error
	for _, a := range aggs {
		if err := rp.sendOne(ctx, a); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (rp *Reporter) sendOne(ctx context.Context, a store.TLSReport) error {
	txts, err := rp.opts.Lookup(ctx, "_smtp._tls."+a.Domain)
	if err != nil {
		return fmt.Errorf("tlsrpt: %s: %w", a.Domain, err) // kept: asked again next run
	}
	defer func() {
		if err := rp.opts.Store.DeleteTLSReport(context.WithoutCancel(ctx), a.Day, a.Domain); err != nil {
			rp.log.Error("TLS report aggregate not removed; it may be sent again", "domain", a.Domain, "day", a.Day, "err", err)
		}
	}()
	ruas, err := ParseRecord(txts)
	if errors.Is(err, ErrNoRecord) {
		return nil
	}
	if err != nil {
		rp.log.Warn("TLS report not sent", "domain", a.Domain, "day", a.Day, "err", err)
		return nil
	}
	r, gz, err := rp.Build(a)
	if err != nil {
		return err
	}
	for _, u := range ruas {
		if err := rp.deliver(ctx, r, gz, u); err != nil {
			rp.log.Warn("TLS report not sent", "domain", a.Domain, "day", a.Day, "rua", u.String(), "err", err)
			continue
		}
		rp.log.Info("TLS report sent", "domain", a.Domain, "day", a.Day, "rua", u.String(), "bytes", len(gz))
	}
	return nil
}

// Build makes the report of one stored aggregate and its gzipped form.
func (rp *Reporter) Build(a store.TLSReport) (*Report, []byte, error) {
	var agg aggregate
	if err := json.Unmarshal(a.Data, &agg); err != nil {
		return nil, nil, fmt.Errorf("tlsrpt: stored aggregate of %s %s: %w", a.Domain, a.Day, err)
	}
	dr, err := dayRange(a.Day)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsrpt: stored day %q: %w", a.Day, err)
	}
	org := rp.opts.Organization
	if org == "" {
		org = rp.opts.Submitter
	}
	contact := rp.opts.Contact
	if contact == "" {
		contact = rp.opts.From
	}
	r := &Report{
		OrganizationName: org, DateRange: dr, ContactInfo: contact,
		ReportID: a.Day + "." + a.Domain + "@" + rp.opts.Submitter, Policies: agg.Policies,
	}
	for i := range r.Policies {
		if r.Policies[i].Policy.String == nil {
			r.Policies[i].Policy.String = []string{} // required, even when empty
		}
	}
	js, err := json.Marshal(r)
	if err != nil {
		return nil, nil, err
	}
	if p := Check(js); p != nil {
		return nil, nil, fmt.Errorf("tlsrpt: report for %s %s is incomplete: %s", a.Domain, a.Day, strings.Join(p, "; "))
	}
	gz, err := r.Gzip()
	if err != nil {
		return nil, nil, err
	}
	if len(gz) > rp.opts.MaxSize {
		return nil, nil, fmt.Errorf("tlsrpt: report for %s is %d bytes gzipped, over %d", a.Domain, len(gz), rp.opts.MaxSize)
	}
	return r, gz, nil
}

// deliver sends one report to one rua destination.
func (rp *Reporter) deliver(ctx context.Context, r *Report, gz []byte, u *url.URL) error {
	if u.Scheme == "https" {
		return rp.post(ctx, gz, u)
	}
	to := u.Opaque
	if unesc, err := url.PathUnescape(to); err == nil {
		to = unesc
	}
	msg := Mail(r, gz, rp.opts.From, to, rp.opts.Submitter, rp.opts.Now())
	b, err := rp.opts.Spool.NewBody()
	if err != nil {
		return err
	}
	prefix, labels, err := rp.write(b, msg)
	if err != nil {
		b.Discard()
		return err
	}
	m := &store.Message{
		Prefix:     prefix,
		Signed:     labels,
		From:       rp.opts.From,
		Recipients: []store.Recipient{{Addr: to, State: store.StateQueued}},
		Size:       int64(len(msg)),
		Received:   rp.opts.Now(),
		BodyType:   store.Body7Bit,
	}
	m.Recipients[0].NextAttempt = m.Received
	err = rp.opts.Spool.Enqueue(ctx, m, b)
	if rp.opts.Waker != nil {
		rp.opts.Waker.Spooled(err)
	}
	if err != nil {
		b.Discard()
	}
	return err
}

// write writes msg to b, DKIM-signing it when a Signer has a key for the
// From domain.
func (rp *Reporter) write(b io.Writer, msg []byte) (prefix []byte, labels []string, err error) {
	var sig Signing
	if rp.opts.Signer != nil {
		if sig, err = rp.opts.Signer.Sign(rp.opts.From, fieldNames(msg)); err != nil {
			return nil, nil, fmt.Errorf("dkim sign: %w", err)
		}
	}
	if sig == nil {
		_, err = b.Write(msg)
		return nil, nil, err
	}
	if _, err := io.MultiWriter(b, sig).Write(msg); err != nil {
		sig.Abort()
		return nil, nil, err
	}
	return sig.Finish()
}

// fieldNames lists the header field names of msg, once per occurrence.
func fieldNames(msg []byte) []string {
	head, _, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	var out []string
	for _, line := range strings.Split(string(head), "\r\n") {
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		if name, _, ok := strings.Cut(line, ":"); ok {
			out = append(out, name)
		}
	}
	return out
}

// post sends the report by HTTPS POST (RFC 8460 §5.4): the gzipped JSON
// as application/tlsrpt+gzip; any 2xx is success.
func (rp *Reporter) post(ctx context.Context, gz []byte, u *url.URL) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(gz))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/tlsrpt+gzip")
	resp, err := rp.opts.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s", u.Redacted(), resp.Status)
	}
	return nil
}
