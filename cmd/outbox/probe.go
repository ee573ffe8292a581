package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/outbox-mta/outbox/delivery/probe"
	"github.com/outbox-mta/outbox/mxresolve"
)

// stringList is a flag that may be repeated (--to A --to B).
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// probeFlags are the parsed flags of `outbox probe`.
type probeFlags struct {
	domain, resolver, caFile, helo, user, pwFile, from, name string
	to                                                       stringList
	port, stsPort                                            int
	implicit, noTLS, insecure, asJSON, dnssec                bool
	timeout                                                  time.Duration
}

// runProbe is `outbox probe HOST[:PORT] | --domain DOMAIN`: one diagnostic
// SMTP session per host (delivery/probe), printed as text or JSON. It
// verifies the certificate itself and reports the outcome, since a
// connection that merely encrypts proves nothing about whom it reaches.
// Exit 0 when every host completed the session with TLS verified (or TLS
// not asked for: --no-tls, --insecure), 1 otherwise, 2 on misuse.
func runProbe(ctx context.Context, c *cli, args []string) int {
	v := newVerbFlags(c, "probe")
	f := registerProbeFlags(v.fs)
	pos, code, ok := v.parse(args)
	if !ok {
		return code
	}
	if (f.domain == "") == (len(pos) != 1) || len(pos) > 1 {
		return v.usageError("give one HOST[:PORT] or --domain DOMAIN")
	}
	if (f.from == "") != (len(f.to) == 0) {
		return v.usageError("--from and --to go together")
	}
	if f.name != "" && f.domain != "" {
		return v.usageError("--name is for HOST; with --domain each MX host's name is used")
	}
	if f.implicit && f.noTLS {
		return v.usageError("--tls and --no-tls exclude each other")
	}
	opts := probe.Options{ImplicitTLS: f.implicit, NoTLS: f.noTLS, Helo: f.helo, Timeout: f.timeout,
		User: f.user, From: f.from, To: f.to}
	if f.caFile != "" {
		pool, err := loadCAFile(f.caFile)
		if err != nil {
			fmt.Fprintf(c.stderr, "outbox probe: %v\n", err)
			return exitError
		}
		opts.RootCAs = pool
	}
	if f.user != "" {
		pw, err := probePassword(ctx, c, f.pwFile)
		if err != nil {
			fmt.Fprintf(c.stderr, "outbox probe: %v\n", err)
			return exitError
		}
		opts.Password = pw
	}
	targets, err := probeTargets(ctx, f, pos)
	if err != nil {
		fmt.Fprintf(c.stderr, "outbox probe: %v\n", err)
		return exitError
	}
	if f.domain != "" && !f.asJSON {
		writeSTSPolicy(ctx, c.stdout, f, opts.RootCAs, targets)
	}
	return probeAll(ctx, c, f, opts, targets)
}

func registerProbeFlags(fs *flag.FlagSet) *probeFlags {
	f := &probeFlags{}
	fs.StringVar(&f.domain, "domain", "", "probe the MX hosts of `DOMAIN`, in order")
	fs.StringVar(&f.resolver, "resolver", "", "DNS server `ip:port` for --domain (default: /etc/resolv.conf)")
	fs.IntVar(&f.port, "port", 0, "`PORT` to connect to when HOST or the MX hosts give none (default 25, 465 with --tls)")
	fs.BoolVar(&f.implicit, "tls", false, "implicit TLS from the first byte (port 465, RFC 8314)")
	fs.BoolVar(&f.noTLS, "no-tls", false, "do not send STARTTLS; TLS is then not required")
	fs.BoolVar(&f.insecure, "insecure", false, "a certificate that does not verify is shown but does not fail the probe")
	fs.StringVar(&f.caFile, "ca-file", "", "PEM `FILE` of the roots to verify with (default: the system roots)")
	fs.StringVar(&f.name, "name", "", "verify the certificate for `NAME` (and send it as SNI) rather than HOST")
	fs.StringVar(&f.helo, "helo", "", "`NAME` to send with EHLO (default localhost)")
	fs.StringVar(&f.user, "auth-user", "", "AUTH as `USER` (the password is read from --auth-password-file, else standard input)")
	fs.StringVar(&f.pwFile, "auth-password-file", "", "`FILE` whose first line is the AUTH password")
	fs.StringVar(&f.from, "from", "", "send a test message from `ADDRESS` (with --to)")
	fs.Var(&f.to, "to", "send the test message to `ADDRESS` (repeatable)")
	fs.DurationVar(&f.timeout, "timeout", probe.DefaultTimeout, "bound of each network step")
	fs.BoolVar(&f.asJSON, "json", false, "print the reports as a JSON array")
	fs.BoolVar(&f.dnssec, "dnssec", false, "trust the AD bit of --resolver (a DNSSEC-validating resolver on a trusted path): with --domain, look up TLSA records and check the chain against them (DANE, RFC 7672)")
	fs.IntVar(&f.stsPort, "mta-sts-port", 443, "HTTPS `PORT` of the MTA-STS policy server with --domain (tests)")
	return f
}

// probeTarget is one host to probe: the name its certificate must match
// and the addresses to connect to, tried in order until one connects.
type probeTarget struct {
	host  string
	addrs []string
	tlsa  *probeTLSA // --domain --dnssec only
}

// probeTargets is the given HOST[:PORT], or the MX hosts of --domain in
// the order delivery would try them (mxresolve, RFC 5321 §5.1), each at
// its addresses in the resolver's order.
func probeTargets(ctx context.Context, f *probeFlags, pos []string) ([]probeTarget, error) {
	port := f.port
	if port == 0 {
		port = 25
		if f.implicit {
			port = 465
		}
	}
	if f.domain == "" {
		host, p, err := net.SplitHostPort(pos[0])
		if err != nil {
			host, p = strings.Trim(pos[0], "[]"), strconv.Itoa(port)
		}
		t := probeTarget{host: host, addrs: []string{net.JoinHostPort(host, p)}}
		if f.name != "" {
			t.host = f.name
		}
		return []probeTarget{t}, nil
	}
	r := &mxresolve.Resolver{Server: f.resolver, Timeout: f.timeout, Validating: f.dnssec}
	hosts, err := r.Lookup(ctx, f.domain)
	if err != nil {
		return nil, fmt.Errorf("MX lookup of %s: %w", f.domain, err)
	}
	var ts []probeTarget
	for _, h := range hosts {
		t := probeTarget{host: h.Name, tlsa: lookupProbeTLSA(ctx, r, h, f)}
		for _, a := range h.Addrs {
			t.addrs = append(t.addrs, net.JoinHostPort(a.String(), strconv.Itoa(port)))
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// probeAll probes each target in turn, an address that cannot be
// connected to giving way to the host's next one, as delivery does, and
// prints every report.
func probeAll(ctx context.Context, c *cli, f *probeFlags, opts probe.Options, targets []probeTarget) int {
	code := exitOK
	var reps []*probe.Report
	for _, t := range targets {
		ok := false // the host's last report, the one that connected, is OK
		for _, addr := range t.addrs {
			opts.Host, opts.Addr, opts.DANE = t.host, addr, t.tlsa.options(t.host, f.domain)
			rep, err := probe.Probe(ctx, opts)
			ok = err == nil && probeTLSOK(rep, f)
			if f.asJSON {
				reps = append(reps, rep)
			} else {
				writeProbeReport(c.stdout, rep, f)
				t.tlsa.write(c.stdout, rep)
			}
			if rep.Connected || ctx.Err() != nil {
				break
			}
		}
		if !ok {
			code = exitError
		}
	}
	if f.asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(reps); err != nil {
			fmt.Fprintf(c.stderr, "outbox probe: %v\n", err)
			return exitError
		}
	}
	return code
}

// probeTLSOK reports whether a report's TLS meets what was asked: verified
// TLS, unless --no-tls or --insecure.
func probeTLSOK(rep *probe.Report, f *probeFlags) bool {
	switch {
	case f.noTLS:
		return true
	case rep.TLS == nil:
		return false
	case daneRequired(rep):
		return rep.TLS.DANE.Verified || f.insecure
	default:
		return rep.TLS.Verified || f.insecure
	}
}

func loadCAFile(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--ca-file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("--ca-file %s: no PEM certificate in it", path)
	}
	return pool, nil
}

// probePassword reads the AUTH password from file, or from standard input
// (without echo on a terminal): never from the command line, where ps
// would show it.
func probePassword(ctx context.Context, c *cli, file string) (string, error) {
	var r io.Reader = c.stdin
	if file != "" {
		fh, err := os.Open(file)
		if err != nil {
			return "", fmt.Errorf("--auth-password-file: %w", err)
		}
		defer fh.Close()
		r = fh
	} else if f, ok := c.stdin.(*os.File); ok && isTerminal(f) {
		pw, err := readNoEcho(ctx, f, c.stderr, "Password: ")
		return string(pw), err
	}
	line, err := bufio.NewReader(r).ReadBytes('\n')
	if err != nil && !(errors.Is(err, io.EOF) && len(line) > 0) {
		return "", fmt.Errorf("reading the AUTH password: %w", err)
	}
	return string(trimEOL(line)), nil
}
