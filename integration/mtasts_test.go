package integration

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// stsPolicies are the MTA-STS policies the test's HTTPS server serves, by
// Host: sts.test enforces mx1, stsbad.test enforces a host that is not its
// MX, ststest.test lists the same in testing mode.
var stsPolicies = map[string]string{
	"mta-sts.sts.test":     "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\nmax_age: 86400\r\n",
	"mta-sts.stsbad.test":  "version: STSv1\r\nmode: enforce\r\nmx: mx9.example.test\r\nmax_age: 86400\r\n",
	"mta-sts.ststest.test": "version: STSv1\r\nmode: testing\r\nmx: mx9.example.test\r\nmax_age: 86400\r\n",
}

// stsPolicyServer serves stsPolicies over HTTPS on 127.0.0.1 with a
// certificate of the test CA, or fails every fetch with 500.
type stsPolicyServer struct {
	srv     *httptest.Server
	port    int
	failing atomic.Bool
	fetches atomic.Int32
}

func startSTSPolicyServer(t *testing.T, ca *testCA) *stsPolicyServer {
	t.Helper()
	ps := &stsPolicyServer{}
	ps.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ps.fetches.Add(1)
		policy, ok := stsPolicies[r.Host]
		switch {
		case ps.failing.Load():
			http.Error(w, "policy server down", http.StatusInternalServerError)
		case !ok || r.URL.Path != "/.well-known/mta-sts.txt":
			http.NotFound(w, r)
		default:
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprint(w, policy)
		}
	}))
	ps.srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.ca.Issue(t, "mta-sts.sts.test", "mta-sts.stsbad.test", "mta-sts.ststest.test")}}
	ps.srv.StartTLS()
	t.Cleanup(ps.srv.Close)
	_, port, _ := net.SplitHostPort(ps.srv.Listener.Addr().String())
	fmt.Sscan(port, &ps.port)
	return ps
}

// stsRecords are the DNS records of the MTA-STS scenarios; stsMX is the MX
// of sts.test and id its policy id.
func stsRecords(stsMX, id string) []string {
	r := []string{
		"--mx-host=sts.test," + stsMX + ",10",
		"--mx-host=stsbad.test,mx1.example.test,10",
		"--mx-host=ststest.test,mx1.example.test,10",
		"--mx-host=flip.test,mx1.example.test,10",
		"--mx-host=flip.test,mx2.example.test,20",
		"--mx-host=sender.test,mx1.example.test,10",
		"--host-record=mx1.example.test,127.0.0.2",
		"--host-record=mx2.example.test,127.0.0.3",
	}
	for _, d := range []string{"sts.test", "stsbad.test", "ststest.test"} {
		r = append(r, "--txt-record=_mta-sts."+d+",v=STSv1; id="+id+";", "--host-record=mta-sts."+d+",127.0.0.1")
	}
	return r
}

// stsDaemon starts Outbox on spool with the test CA trusted for MX hosts
// and policy servers beside the system roots (extra_ca_file), a
// submission certificate, and a 10s lifetime so that deferrals end as
// bounces within the test.
func stsDaemon(t *testing.T, ca *testCA, dnsAddr string, ps *stsPolicyServer, spool, delivery string) *daemon {
	t.Helper()
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	cert, key := ca.issue(t, "outbox", "outbox.test", "127.0.0.1")
	cfg := fmt.Sprintf(`hostname = "outbox.test"
[tls]
cert_file = %q
key_file = %q
[spool]
dir = %q
[[listen.submission]]
address = %q
[delivery]
resolver = %q
extra_ca_file = %q
mta_sts_port = %d
dns_cache_size = 0
first_retry = "1s"
max_retry_interval = "2s"
max_lifetime = "10s"
%s
`, cert, key, spool, addr, dnsAddr, ca.File, ps.port, delivery)
	return startDaemon(t, dir, cfg, addr)
}

// pySubmit submits one message with Python's smtplib, after STARTTLS when
// caFile is set, with the given MAIL parameters. It returns the SMTP code
// of a refused MAIL FROM, or 250.
func pySubmit(t *testing.T, addr, caFile, from, to string, mailOpts []string) int {
	t.Helper()
	python := needTool(t, "python3")
	host, port, _ := strings.Cut(addr, ":")
	tlsLines := ""
	if caFile != "" {
		tlsLines = fmt.Sprintf("s.starttls(context=ssl.create_default_context(cafile=%q)); s.ehlo(\"client.test\")", caFile)
	}
	script := fmt.Sprintf(`
import smtplib, ssl, sys
s = smtplib.SMTP(%q, %s, timeout=30)
s.ehlo("client.test")
%s
try:
    s.sendmail(%q, [%q], b"From: %s\r\nTo: %s\r\nSubject: mta-sts\r\n\r\nhello\r\n", mail_options=%s)
    print(250)
except smtplib.SMTPSenderRefused as e:
    print(e.smtp_code)
s.quit()
`, host, port, tlsLines, from, to, from, to, pyList(mailOpts))
	out, err := exec.Command(python, "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("python smtplib: %v\n%s", err, out)
	}
	var code int
	fmt.Sscan(strings.TrimSpace(string(out)), &code)
	return code
}

// lastAttempt is the newest history entry of rcpt in msg.
func lastAttempt(msg map[string]any, rcpt string) map[string]any {
	h := history(msg, rcpt)
	if len(h) == 0 {
		return map[string]any{}
	}
	return h[len(h)-1]
}

// waitReply waits until rcpt of the message from sender is in state with
// a last reply containing text.
func waitReply(t *testing.T, d *daemon, from, rcpt, state, text string) map[string]any {
	t.Helper()
	var m map[string]any
	waitFor(t, rcpt+" "+state+" with "+text, 40*time.Second, func() bool {
		m = d.message(from)
		r := recipientField(m, rcpt)
		return r != nil && r["state"] == state && strings.Contains(fmt.Sprint(r["last_reply"]), text)
	})
	return m
}

// stsRig is TestMTASTS's world: the first daemon, both Postfix MXes, the
// test CA, the policy server and the DNS server naming mx1, and the spool
// a second daemon reopens.
type stsRig struct {
	d        *daemon
	mx1, mx2 *postfix
	ca       *testCA
	ps       *stsPolicyServer
	dns1     *dnsmasq
	spool    string
}

// TestMTASTS runs MTA-STS, REQUIRETLS and the downgrade memory against
// Postfix (mx1 with a certificate of the test CA, mx2 without STARTTLS),
// an HTTPS policy server and dnsmasq.
func TestMTASTS(t *testing.T) {
	needTool(t, "postfix")
	needTool(t, "dnsmasq")
	lockPeers(t)
	ca := newTestCA(t, t.TempDir())
	ps := startSTSPolicyServer(t, ca)
	dns1 := startDNSMasq(t, stsRecords("mx1.example.test", "1")...)
	cert, key := ca.issue(t, "mx1", "mx1.example.test")
	domains := []string{"sts.test", "stsbad.test", "ststest.test", "flip.test", "sender.test"}
	mx1 := startPostfix(t, postfixOptions{Name: "mx1", IP: "127.0.0.2", Hostname: "mx1.example.test",
		Domains: domains, CertFile: cert, KeyFile: key})
	mx2 := startPostfix(t, postfixOptions{Name: "mx2", IP: "127.0.0.3", Hostname: "mx2.example.test", Domains: domains})
	spool := filepath.Join(t.TempDir(), "spool")
	r := &stsRig{d: stsDaemon(t, ca, dns1.Addr, ps, spool, ""), mx1: mx1, mx2: mx2, ca: ca, ps: ps, dns1: dns1, spool: spool}
	t.Run("enforce_matching_mx", r.enforceMatchingMx)
	t.Run("enforce_mismatching_mx", r.enforceMismatchingMx)
	t.Run("testing_mode", r.testingMode)
	t.Run("requiretls_server_without_it", r.requiretlsServerWithoutIt)
	t.Run("requiretls_plaintext_submission", r.requiretlsPlaintextSubmission)
	t.Run("downgrade_refused", r.downgradeRefused)
	t.Run("probe_domain", r.probeDomain)
	t.Run("fetch_failure_keeps_cached_policy", r.fetchFailureKeepsCachedPolicy)
}

// enforceMatchingMx: an enforce policy whose mx pattern matches mx1
// delivers over verified TLS, and queue show says so.
func (r *stsRig) enforceMatchingMx(t *testing.T) {
	pySubmit(t, r.d.smtp, "", "a@sender.test", "a@sts.test", nil)
	m := r.d.waitStates("a@sender.test", map[string]string{"a@sts.test": "delivered"}, 30*time.Second)
	a := lastAttempt(m, "a@sts.test")
	if a["tls_verified_by"] != "mta-sts" || a["tls_policy"] != "mta-sts enforce sts.test" || len(r.mx1.messages(t, "a@sts.test")) != 1 {
		t.Fatalf("attempt %s, %d at mx1", showJSON(a), len(r.mx1.messages(t, "a@sts.test")))
	}
	show := r.d.cli("queue", "show", m["id"].(string))
	if !strings.Contains(show, "verified-by mta-sts  policy mta-sts enforce sts.test") {
		t.Errorf("queue show lacks the TLS outcome:\n%s", show)
	}
	summary(t, "enforce, MX matches: delivered to mx1, tls %v, verified by %v, policy %v", a["tls"], a["tls_verified_by"], a["tls_policy"])
}

// enforceMismatchingMx: an MX the enforce policy does not list is never
// used; the recipient is deferred, then bounced 5.7.5.
func (r *stsRig) enforceMismatchingMx(t *testing.T) {
	pySubmit(t, r.d.smtp, "", "b@sender.test", "b@stsbad.test", nil)
	m := waitReply(t, r.d, "b@sender.test", "b@stsbad.test", "deferred", "matches none of the MTA-STS policy's mx patterns")
	deferred := recipientField(m, "b@stsbad.test")["last_reply"]
	m = waitReply(t, r.d, "b@sender.test", "b@stsbad.test", "bounced", "matches none")
	bounces := r.d.bouncesFor(m["id"].(string))
	if len(bounces) != 1 || bounces[0]["enhanced"] != "5.7.5" || len(r.mx1.messages(t, "b@stsbad.test")) != 0 {
		t.Fatalf("bounce log %s, %d at mx1", showJSON(bounces), len(r.mx1.messages(t, "b@stsbad.test")))
	}
	summary(t, "enforce, MX not in policy: deferred (%v), then bounced %v (%v), 0 at mx1", deferred, bounces[0]["enhanced"], bounces[0]["diag"])
}

// testingMode: a testing policy delivers anyway and records the failure.
func (r *stsRig) testingMode(t *testing.T) {
	pySubmit(t, r.d.smtp, "", "c@sender.test", "c@ststest.test", nil)
	m := r.d.waitStates("c@sender.test", map[string]string{"c@ststest.test": "delivered"}, 30*time.Second)
	a := lastAttempt(m, "c@ststest.test")
	if a["tls_policy"] != "mta-sts testing ststest.test" || !strings.HasPrefix(fmt.Sprint(a["tls_failure"]), "validation-failure") {
		t.Fatalf("attempt %s", showJSON(a))
	}
	summary(t, "testing, MX not in policy: delivered, recorded tls_failure %q", a["tls_failure"])
}

// requiretlsServerWithoutIt: a REQUIRETLS message bounces 5.7.10 when
// the receiver does not offer REQUIRETLS (RFC 8689).
func (r *stsRig) requiretlsServerWithoutIt(t *testing.T) {
	if code := pySubmit(t, r.d.smtp, r.ca.File, "e@sender.test", "e@sts.test", []string{"REQUIRETLS"}); code != 250 {
		t.Fatalf("REQUIRETLS over TLS refused: %d", code)
	}
	m := waitReply(t, r.d, "e@sender.test", "e@sts.test", "bounced", "does not offer REQUIRETLS")
	bounces := r.d.bouncesFor(m["id"].(string))
	if m["tls_required"] != "requiretls" || len(bounces) != 1 || bounces[0]["enhanced"] != "5.7.10" || len(r.mx1.messages(t, "e@sts.test")) != 0 {
		t.Fatalf("message %s, bounces %s", showJSON(m), showJSON(bounces))
	}
	summary(t, "REQUIRETLS to Postfix %s (no REQUIRETLS): bounced %v (%v)", "mx1", bounces[0]["enhanced"], bounces[0]["diag"])
}

// requiretlsPlaintextSubmission: MAIL ... REQUIRETLS is refused on a
// session without TLS (RFC 8689).
func (r *stsRig) requiretlsPlaintextSubmission(t *testing.T) {
	if code := pySubmit(t, r.d.smtp, "", "p@sender.test", "p@sts.test", []string{"REQUIRETLS"}); code != 530 {
		t.Fatalf("MAIL ... REQUIRETLS in plain text: %d, want 530", code)
	}
	summary(t, "REQUIRETLS on a plaintext submission session: MAIL refused 530 5.7.10")
}

// downgradeRefused: a domain seen with verified TLS is not sent in plain
// text to another MX until the operator resets its memory.
func (r *stsRig) downgradeRefused(t *testing.T) {
	t.Cleanup(func() {
		if r.mx1.masterPID() == 0 {
			r.mx1.start(t)
		}
	})
	pySubmit(t, r.d.smtp, "", "f1@sender.test", "f1@flip.test", nil)
	r.d.waitStates("f1@sender.test", map[string]string{"f1@flip.test": "delivered"}, 30*time.Second)
	r.mx1.stop(t)
	pySubmit(t, r.d.smtp, "", "f2@sender.test", "f2@flip.test", nil)
	m := waitReply(t, r.d, "f2@sender.test", "f2@flip.test", "deferred", "TLS downgrade refused")
	refused := recipientField(m, "f2@flip.test")["last_reply"]
	if n := len(r.mx2.messages(t, "f2@flip.test")); n != 0 {
		t.Fatalf("%d messages reached mx2 in plain text", n)
	}
	if out := r.d.cli("tls", "list"); !strings.Contains(out, "flip.test") || !strings.Contains(out, "verified") {
		t.Errorf("tls list: %q", out)
	}
	r.d.cli("tls", "reset", "flip.test")
	r.d.cli("queue", "flush", "--all")
	r.d.waitStates("f2@sender.test", map[string]string{"f2@flip.test": "delivered"}, 30*time.Second)
	if n := len(r.mx2.messages(t, "f2@flip.test")); n != 1 {
		t.Fatalf("after reset: %d at mx2, want 1", n)
	}
	summary(t, "downgrade: flip.test verified via mx1, then mx1 down: deferred (%v), 0 at mx2; after `outbox tls reset`: delivered via mx2", refused)
}

// probeDomain: outbox probe --domain shows the policy and which MX
// matches it.
func (r *stsRig) probeDomain(t *testing.T) {
	out, err := exec.Command(binary, "probe", "--domain", "stsbad.test", "--resolver", r.dns1.Addr,
		"--ca-file", r.ca.File, "--mta-sts-port", fmt.Sprint(r.ps.port), "--timeout", "10s").CombinedOutput()
	text := string(out)
	if !strings.Contains(text, "mode enforce") || !strings.Contains(text, "mx1.example.test: matches no mx pattern: not used") {
		t.Fatalf("probe --domain (%v):\n%s", err, text)
	}
	summary(t, "outbox probe --domain stsbad.test shows the enforce policy and mx1 not matching it")
}

// Last: it stops the first daemon. The cached enforce policy of
// sts.test (mx1) must hold when the id changes, its server fails and
// the MX moves to mx2.
func (r *stsRig) fetchFailureKeepsCachedPolicy(t *testing.T) {
	r.d.stop()
	dns2 := startDNSMasq(t, stsRecords("mx2.example.test", "2")...)
	r.ps.failing.Store(true)
	before := r.ps.fetches.Load()
	d2 := stsDaemon(t, r.ca, dns2.Addr, r.ps, r.spool, "tls_memory = false")
	pySubmit(t, d2.smtp, "", "g@sender.test", "g@sts.test", nil)
	m := waitReply(t, d2, "g@sender.test", "g@sts.test", "deferred", "mta-sts enforce sts.test policy")
	if r.ps.fetches.Load() == before || len(r.mx2.messages(t, "g@sts.test")) != 0 {
		t.Fatalf("fetches %d -> %d, %d at mx2", before, r.ps.fetches.Load(), len(r.mx2.messages(t, "g@sts.test")))
	}
	summary(t, "policy fetch failing (id changed, 500), cached enforce policy kept: deferred (%v), 0 at mx2",
		recipientField(m, "g@sts.test")["last_reply"])
}
