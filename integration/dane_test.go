package integration

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery/smtptest"
	"github.com/outbox-mta/outbox/store"
)

// daneWorld is DANE on loopback: a DNSSEC-signed zone dane.test served by
// one unbound and validated by another (startSignedDNS), and Postfix "mx"
// on 127.0.0.2:25 with a certificate from a test CA that Outbox does not
// trust (no ca_file): only the TLSA records can authenticate it. Every MX
// name below points at that one Postfix; the TLSA records differ.
//
//	dane.test       MX mx1  TLSA 3 1 1 SHA-256(SPKI of the leaf)       match (DANE-EE)
//	bad.dane.test   MX mx2  TLSA 3 1 1 SHA-256 of another key          mismatch
//	ta.dane.test    MX mx3  TLSA 2 0 1 SHA-256(CA cert), leaf names mx3 match (DANE-TA)
//	tawrong.dane.test MX mx4 TLSA 2 0 1 SHA-256(CA cert), leaf lacks mx4 name mismatch
//	pkix.dane.test  MX mx5  TLSA 1 1 1 (PKIX-EE: unusable)            TLS mandatory, unauthenticated
//	bogus.dane.test MX mx6  TLSA altered after signing                 SERVFAIL: host unusable
type daneWorld struct {
	dns *signedDNS
	mx  *postfix
	ca  *testCA
}

var daneDomains = []string{"dane.test", "bad.dane.test", "ta.dane.test", "tawrong.dane.test", "pkix.dane.test", "bogus.dane.test"}

func newDANEWorld(t *testing.T) *daneWorld {
	t.Helper()
	needTool(t, "postfix")
	lockPeers(t)
	dir := t.TempDir()
	w := &daneWorld{ca: newTestCA(t, dir)}
	leaf := w.ca.ca.Issue(t, "mx1.dane.test", "mx2.dane.test", "mx3.dane.test", "mx5.dane.test", "mx6.dane.test")
	certFile, keyFile := dir+"/mx.pem", dir+"/mx.key"
	smtptest.WriteKeyPair(t, leaf, certFile, keyFile)
	// The CA after the leaf: DANE-TA(2) needs the trust anchor in the chain
	// the server sends (RFC 7672 §3.2.2).
	appendPEM(t, certFile, w.ca.ca.Cert.Raw)

	spki := sha256.Sum256(leaf.Leaf.RawSubjectPublicKeyInfo)
	caSum := sha256.Sum256(w.ca.ca.Cert.Raw)
	other := make([]byte, 32)
	rand.Read(other)
	good, ta, wrong := hex.EncodeToString(spki[:]), hex.EncodeToString(caSum[:]), hex.EncodeToString(other)
	var recs []string
	for i, d := range daneDomains {
		mx := "mx" + string(rune('1'+i))
		recs = append(recs, d+". IN MX 10 "+mx+".dane.test.", mx+" IN A 127.0.0.2")
	}
	recs = append(recs,
		"_25._tcp.mx1 IN TLSA 3 1 1 "+good,
		"_25._tcp.mx2 IN TLSA 3 1 1 "+wrong,
		"_25._tcp.mx3 IN TLSA 2 0 1 "+ta,
		"_25._tcp.mx4 IN TLSA 2 0 1 "+ta,
		"_25._tcp.mx5 IN TLSA 1 1 1 "+good,
		"_25._tcp.mx6 IN TLSA 3 1 1 "+good,
	)
	w.dns = startSignedDNS(t, signedZoneOptions{
		Zone: "dane.test", Records: recs,
		Tamper: func(s string) string {
			return strings.Replace(s, "_25._tcp.mx6.dane.test.\t60\tIN\tTLSA\t3 1 1 "+good,
				"_25._tcp.mx6.dane.test.\t60\tIN\tTLSA\t3 1 1 "+wrong, 1)
		},
	})
	w.mx = startPostfix(t, postfixOptions{
		Name: "danemx", IP: "127.0.0.2", Hostname: "mx1.dane.test",
		Domains:  daneDomains,
		CertFile: certFile, KeyFile: keyFile,
	})
	return w
}

func appendPEM(t *testing.T, path string, der []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pem.Encode(f, &pem.Block{Type: "CERTIFICATE", Bytes: der}); err != nil {
		t.Fatal(err)
	}
}

// TestDANEProbe runs `outbox probe --domain D --dnssec` through the
// validating resolver: it shows each MX host's TLSA records and whether
// the certificate Postfix presents matches them.
func TestDANEProbe(t *testing.T) {
	w := newDANEWorld(t)
	cases := []struct {
		domain string
		code   int
		want   []string
	}{
		{"dane.test", 0, []string{"TLSA _25._tcp.mx1.dane.test:", "  3 1 1 ", "DANE: Verified (TLSA 3 1 1", "result: OK"}},
		{"ta.dane.test", 0, []string{"  2 0 1 ", "DANE: Verified (TLSA 2 0 1", "at depth 1)"}},
		{"bad.dane.test", 1, []string{"DANE: FAILED: no TLSA record matches"}},
		{"tawrong.dane.test", 1, []string{"DANE: FAILED: certificate does not name the MX host"}},
		{"pkix.dane.test", 1, []string{"DANE: encryption (TLSA records, none usable): TLS mandatory, not authenticated"}},
		{"bogus.dane.test", 1, []string{"DANE: TLSA lookup failed"}},
	}
	for _, c := range cases {
		code, out := runOutbox(t, t.TempDir(), "probe", "--domain", c.domain, "--resolver", w.dns.Addr, "--dnssec", "--timeout", "10s")
		if code != c.code {
			t.Errorf("probe --domain %s: exit %d, want %d\n%s", c.domain, code, c.code, out)
		}
		for _, want := range c.want {
			if !strings.Contains(out, want) {
				t.Errorf("probe --domain %s: no %q in\n%s", c.domain, want, out)
			}
		}
	}
	// Without --dnssec the AD bit is not trusted: no DANE, WebPKI only.
	code, out := runOutbox(t, t.TempDir(), "probe", "--domain", "dane.test", "--resolver", w.dns.Addr, "--timeout", "10s")
	if code != 1 || strings.Contains(out, "TLSA") || !strings.Contains(out, "verification: FAILED") {
		t.Errorf("probe without --dnssec: exit %d\n%s", code, out)
	}
}

// TestDANEDelivery delivers one message to each domain of the DANE world
// through the validating resolver, with delivery.dnssec_validating on and
// no ca_file (WebPKI cannot verify the test CA): a TLSA match delivers,
// verified by DANE; a mismatch, a DANE-TA name mismatch and a bogus TLSA
// answer defer (nothing reaches Postfix), then bounce when
// delivery.max_lifetime runs out, with the reason; unusable records
// deliver over unauthenticated TLS.
func TestDANEDelivery(t *testing.T) {
	w := newDANEWorld(t)
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	cfg := fmt.Sprintf(`hostname = "outbox.test"
[spool]
dir = %q
[[listen.submission]]
address = %q
[delivery]
resolver = %q
dnssec_validating = true
first_retry = "1s"
max_retry_interval = "2s"
max_lifetime = "12s"
[tls_reports]
enabled = true
`, filepath.Join(dir, "spool"), addr, w.dns.Addr)
	d := startDaemon(t, dir, cfg, addr)

	cases := []struct {
		domain, state, verified, want string
	}{
		{"dane.test", "delivered", "dane", ""},
		{"ta.dane.test", "delivered", "dane", ""},
		{"pkix.dane.test", "delivered", "none", ""},
		{"bad.dane.test", "bounced", "", "validation-failure"},
		{"tawrong.dane.test", "bounced", "", "certificate-host-mismatch"},
		{"bogus.dane.test", "bounced", "", "dnssec-invalid"},
	}
	start := time.Now()
	for _, c := range cases {
		rcpt := "user@" + c.domain
		smtplibSend(t, d.smtp, "from-"+c.domain+"@sender.test", []string{rcpt},
			"From: app@sender.test\r\nSubject: DANE "+c.domain+"\r\n\r\nhello\r\n")
	}
	var table []string
	for _, c := range cases {
		rcpt, from := "user@"+c.domain, "from-"+c.domain+"@sender.test"
		msg := d.waitStates(from, map[string]string{rcpt: c.state}, 60*time.Second)
		h := history(msg, rcpt)
		last := h[len(h)-1]
		reply := fmt.Sprint(recipientField(msg, rcpt)["last_reply"])
		if c.state == "bounced" && (len(h) < 2 || h[0]["result"] != "deferred") {
			// Deferred first, retried, bounced only at max_lifetime.
			t.Errorf("%s: history %s, want deferred attempts before the bounce", rcpt, showJSON(h))
		}
		got := len(w.mx.messages(t, rcpt))
		switch {
		case c.state == "delivered" && (last["tls_verified_by"] != c.verified || !strings.HasPrefix(fmt.Sprint(last["tls"]), "TLS")):
			t.Errorf("%s: last attempt %s, want TLS verified by %s", rcpt, showJSON(last), c.verified)
		case c.state == "delivered" && got != 1:
			t.Errorf("%s: Postfix has %d messages, want 1", rcpt, got)
		case c.state == "bounced" && (got != 0 || !strings.Contains(reply, c.want) && !strings.Contains(fmt.Sprint(h[0]["tls_failure"]), c.want)):
			t.Errorf("%s: %d at Postfix, last reply %q, first attempt %s; want none and %s", rcpt, got, reply, showJSON(h[0]), c.want)
		}
		why := fmt.Sprint(last["tls_verified_by"])
		if c.state == "bounced" {
			why = reply
		}
		table = append(table, fmt.Sprintf("%s → %s after %d attempts (%s)", c.domain, c.state, len(h), why))
	}
	took := time.Since(start)
	// The sessions' TLS results, as TLS reporting counted them: written to
	// the spool at shutdown at the latest.
	d.stop()
	counts := tlsCounts(t, filepath.Join(dir, "spool"))
	for dom, want := range map[string]string{
		"dane.test":         `"policy-type":"tlsa","policy-string":["_25._tcp.mx1.dane.test. IN TLSA 3 1 1`,
		"bad.dane.test":     `"result-type":"validation-failure","sending-mta-ip":"127.0.0.1","receiving-mx-hostname":"mx2.dane.test","receiving-ip":"127.0.0.2"`,
		"tawrong.dane.test": `"result-type":"certificate-host-mismatch"`,
		"pkix.dane.test":    `"total-successful-session-count":1,"total-failure-session-count":0`,
	} {
		if !strings.Contains(counts[dom], want) {
			t.Errorf("TLS report counts of %s have no %s:\n%s", dom, want, counts[dom])
		}
	}
	summary(t, "DANE through the validating unbound, Postfix with a test-CA certificate, no ca_file, %.1fs: %s",
		took.Seconds(), strings.Join(table, "; "))
}

// tlsCounts reads the TLS report aggregates of the stopped spool at dir,
// by policy domain.
func tlsCounts(t *testing.T, dir string) map[string]string {
	t.Helper()
	db, err := store.Open(dir, store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	aggs, err := db.TLSReports(context.Background(), "9999-12-31")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, a := range aggs {
		out[a.Domain] += string(a.Data)
	}
	return out
}
