package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/outbox-mta/outbox/delivery/probe"
	"github.com/outbox-mta/outbox/delivery/smtptest"
	"github.com/outbox-mta/outbox/mxresolve/dnstest"
)

// probeServer starts a STARTTLS server with a certificate for names from
// ca, offering AUTH to alice, and returns it with the CA file's path.
func probeServer(t *testing.T, ca *smtptest.CA, names ...string) (*smtptest.Server, string) {
	t.Helper()
	s := smtptest.Start(t, smtptest.Options{
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, names...)}},
		Users:     map[string]string{"alice": "s3cret"},
	})
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	ca.WriteCA(t, caFile)
	return s, caFile
}

func TestProbe(t *testing.T) {
	ca := smtptest.NewCA(t)
	good, caFile := probeServer(t, ca, "127.0.0.1")
	wrong, _ := probeServer(t, ca, "other.test")
	plain := smtptest.Start(t, smtptest.Options{})
	silent := smtptest.Start(t, smtptest.Options{Silent: true})
	implicit := smtptest.Start(t, smtptest.Options{ImplicitTLS: true,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, "mx.test")}}, Users: map[string]string{"a": "b"}})
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte("s3cret\n"), 0o600)
	badPW := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(badPW, []byte("nope\n"), 0o600)
	for _, tt := range []verbCase{
		{name: "verified", args: []string{good.Addr, "--ca-file", caFile}, code: exitOK,
			stdout: []string{"greeting: 220 mx.test", "EHLO:\n  Hello localhost", "  STARTTLS", "TLS: TLS 1.3, TLS_",
				"issuer CN=Outbox test CA", "names 127.0.0.1", "verification: Verified for 127.0.0.1",
				"EHLO after STARTTLS:", "AUTH mechanisms: PLAIN LOGIN CRAM-MD5", "result: OK"}},
		{name: "system roots", args: []string{good.Addr}, code: exitError,
			stdout: []string{"verification: FAILED for 127.0.0.1", "unknown authority", "result: FAILED: the certificate does not verify"}},
		{name: "insecure", args: []string{good.Addr, "--insecure"}, code: exitOK, stdout: []string{"verification: FAILED", "result: OK"}},
		{name: "other name", args: []string{wrong.Addr, "--ca-file", caFile, "--name", "mx.test"}, code: exitError,
			stdout: []string{"== mx.test (" + wrong.Addr + ")", "verification: FAILED for mx.test: x509: certificate is valid for other.test, not mx.test", "result: FAILED"}},
		{name: "right name", args: []string{wrong.Addr, "--ca-file", caFile, "--name", "other.test"}, code: exitOK,
			stdout: []string{"verification: Verified for other.test", "result: OK"}},
		{name: "implicit TLS", args: []string{implicit.Addr, "--tls", "--ca-file", caFile, "--name", "mx.test"}, code: exitOK,
			stdout: []string{"greeting: 220 mx.test", "TLS: TLS 1.3", "verification: Verified for mx.test", "AUTH mechanisms: PLAIN LOGIN CRAM-MD5", "result: OK"}},
		{name: "timeout", args: []string{silent.Addr, "--timeout", "200ms"}, code: exitError, stdout: []string{"result: FAILED: greeting: ", "i/o timeout"}},
		{name: "plain server", args: []string{plain.Addr}, code: exitError, stdout: []string{"result: FAILED: no TLS"}},
		{name: "plain allowed", args: []string{plain.Addr, "--no-tls"}, code: exitOK, stdout: []string{"result: OK"}},
		{name: "auth", args: []string{good.Addr, "--ca-file", caFile, "--auth-user", "alice", "--auth-password-file", pwFile,
			"--from", "p@example.org", "--to", "x@mx.test"}, code: exitOK,
			stdout: []string{"> AUTH PLAIN (credentials of alice)\n< 235", "> MAIL FROM:<p@example.org>\n< 250", "> RCPT TO:<x@mx.test>\n< 250", "> DATA\n< 354", "> .\n< 250", "result: OK"}},
		{name: "auth failure", args: []string{good.Addr, "--ca-file", caFile, "--auth-user", "alice", "--auth-password-file", badPW},
			code: exitError, stdout: []string{"< 535", "result: FAILED: AUTH PLAIN (credentials of alice): 535"}},
		{name: "usage none", args: nil, code: exitUsage, stderr: []string{"give one HOST[:PORT] or --domain DOMAIN"}},
		{name: "usage both", args: []string{"h", "--domain", "d"}, code: exitUsage, stderr: []string{"give one HOST"}},
		{name: "usage from", args: []string{"h", "--from", "a@b"}, code: exitUsage, stderr: []string{"--from and --to go together"}},
		{name: "usage name", args: []string{"--domain", "d", "--name", "n"}, code: exitUsage, stderr: []string{"--name is for HOST"}},
		{name: "usage tls", args: []string{"h", "--tls", "--no-tls"}, code: exitUsage, stderr: []string{"exclude each other"}},
	} {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, runProbe) })
	}
	if len(good.Messages()) != 1 {
		t.Errorf("the test message was not delivered once: %d", len(good.Messages()))
	}
}

// TestProbePasswordFromStdin: the password comes from standard input and
// is never printed.
func TestProbePasswordFromStdin(t *testing.T) {
	ca := smtptest.NewCA(t)
	s, caFile := probeServer(t, ca, "127.0.0.1")
	code, out, errOut := runVerbIO(t, runProbe, strings.NewReader("s3cret\n"), s.Addr, "--ca-file", caFile, "--auth-user", "alice", "--json")
	if code != exitOK || strings.Contains(out+errOut, "s3cret") || len(s.Auths()) != 1 {
		t.Fatalf("exit %d, auths %v\n%s%s", code, s.Auths(), out, errOut)
	}
}

// TestProbeDomainJSON: --domain probes the MX hosts in preference order,
// and --json prints one report per host.
func TestProbeDomainJSON(t *testing.T) {
	ca := smtptest.NewCA(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	ca.WriteCA(t, caFile)
	cert := ca.Issue(t, "mx1.example.test")
	good := smtptest.Start(t, smtptest.Options{Addr: "127.0.0.1:0", TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}})
	port := good.Addr[strings.LastIndex(good.Addr, ":")+1:]
	// mx2 is the same server at another loopback address: its certificate
	// does not name mx2, so that host fails verification.
	other := smtptest.Start(t, smtptest.Options{Addr: "127.0.0.2:" + port, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}})
	_ = other
	dns := &dnstest.Server{Zone: dnstest.Zone(t,
		"example.test. MX 20 mx2.example.test.",
		"example.test. MX 10 mx1.example.test.",
		"mx1.example.test. A 127.0.0.1",
		"mx2.example.test. A 127.0.0.2",
	)}
	dns.Start(t)
	code, out, errOut := runVerbIO(t, runProbe, nil, "--domain", "example.test", "--resolver", dns.Addr(),
		"--port", port, "--ca-file", caFile, "--json")
	if code != exitError {
		t.Errorf("exit %d, want 1 (mx2 does not verify)\n%s", code, errOut)
	}
	var reps []probe.Report
	if err := json.Unmarshal([]byte(out), &reps); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got := ""
	for _, r := range reps {
		got += fmt.Sprintf("%s %s starttls=%v verified=%v after=%d;", r.Host, r.Addr, r.STARTTLS, r.TLS != nil && r.TLS.Verified, len(r.EHLOAfter))
	}
	want := fmt.Sprintf("mx1.example.test 127.0.0.1:%s starttls=true verified=true after=6;mx2.example.test 127.0.0.2:%s starttls=true verified=false after=6;", port, port)
	if got != want {
		t.Errorf("reports\n got %s\nwant %s", got, want)
	}
	var raw []map[string]any
	json.Unmarshal([]byte(out), &raw) //nolint:errcheck // decoded above
	for _, k := range []string{"host", "addr", "greeting", "ehlo", "starttls", "tls", "ehlo_after_tls"} {
		if _, ok := raw[0][k]; !ok {
			t.Errorf("JSON report has no %q: %v", k, raw[0])
		}
	}
	// A host whose first address refuses the connection is probed at
	// its next one; the host counts as answered.
	dns.Add(t, "fallback.test. MX 10 mx3.example.test.", "mx3.example.test. A 127.0.0.9", "mx3.example.test. A 127.0.0.1")
	code, out, errOut = runVerbIO(t, runProbe, nil, "--domain", "fallback.test", "--resolver", dns.Addr(),
		"--port", port, "--ca-file", caFile, "--insecure", "--json")
	reps = nil
	if err := json.Unmarshal([]byte(out), &reps); err != nil || code != exitOK || len(reps) != 2 ||
		reps[0].Connected || !reps[1].Connected || reps[1].Addr != "127.0.0.1:"+port {
		t.Errorf("fallback: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	dns.Set("example.test", dnstest.NXDomain)
	if code, _, errOut := runVerbIO(t, runProbe, nil, "--domain", "example.test", "--resolver", dns.Addr()); code != exitError ||
		!strings.Contains(errOut, "MX lookup of example.test") {
		t.Errorf("NXDOMAIN: exit %d, %s", code, errOut)
	}
}
