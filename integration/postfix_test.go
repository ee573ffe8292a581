package integration

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestRealPeers runs Outbox against software nobody in this project wrote:
// dnsmasq answers its MX queries, two private Postfix instances receive its
// mail, swaks, Python's smtplib and Postfix's smtp-source submit to it.
// The subtests share the peers and run in order; each starts its own
// daemon and prints a summary line.
func TestRealPeers(t *testing.T) {
	w := newPeerWorld(t)
	t.Run("dns", w.testDNS)
	t.Run("end_to_end_swaks", w.testEndToEnd)
	t.Run("tls", w.testTLS)
	t.Run("partial_at_least_one_yes", func(t *testing.T) { w.testPartial(t, true) })
	t.Run("partial_at_least_one_no", func(t *testing.T) { w.testPartial(t, false) })
	t.Run("mx_fallback", w.testMXFallback)
	t.Run("smtp_source_load", w.testLoad)
}

// testDNS checks dnsmasq's answers, then delivers to an implicit MX and
// bounces a null-MX and a non-existent domain.
func (w *peerWorld) testDNS(t *testing.T) {
	answers := []struct {
		name  string
		qtype uint16
		rcode int
		want  string // substring of the answer section, "" for none
	}{
		{"example.test", dns.TypeMX, dns.RcodeSuccess, "10 mx1.example.test."},
		{"example.test", dns.TypeMX, dns.RcodeSuccess, "20 mx2.example.test."},
		{"mx1.example.test", dns.TypeA, dns.RcodeSuccess, "127.0.0.2"},
		{"v6.example.test", dns.TypeAAAA, dns.RcodeSuccess, "::1"},
		{"nullmx.test", dns.TypeMX, dns.RcodeSuccess, "MX\t0 ."},
		{"implicit.test", dns.TypeMX, dns.RcodeSuccess, ""}, // NODATA
		{"implicit.test", dns.TypeA, dns.RcodeSuccess, "127.0.0.2"},
		{"nope.test", dns.TypeMX, dns.RcodeNameError, ""},
	}
	for _, a := range answers {
		r, err := w.dns.query(a.name, a.qtype)
		if err != nil {
			t.Fatalf("%s %s: %v", a.name, dns.TypeToString[a.qtype], err)
		}
		var rrs []string
		for _, rr := range r.Answer {
			rrs = append(rrs, rr.String())
		}
		text := strings.Join(rrs, "\n")
		if r.Rcode != a.rcode || (a.want == "") != (len(rrs) == 0) || !strings.Contains(text, a.want) {
			t.Errorf("dnsmasq %s %s: %s %q, want %s with %q", a.name, dns.TypeToString[a.qtype],
				dns.RcodeToString[r.Rcode], text, dns.RcodeToString[a.rcode], a.want)
		}
	}

	d := w.outbox(t, "", "")
	start := time.Now()
	const from = "dns@sender.test"
	smtplibSend(t, d.smtp, from, []string{"a@implicit.test", "b@nullmx.test", "c@nope.test"},
		"From: dns@sender.test\r\nTo: a@implicit.test\r\nSubject: dns cases\r\n\r\nhello\r\n")
	msg := d.waitStates(from, map[string]string{
		"a@implicit.test": "delivered", "b@nullmx.test": "bounced", "c@nope.test": "bounced",
	}, 30*time.Second)
	if got := len(w.mx1.messages(t, "a@implicit.test")); got != 1 {
		t.Errorf("a@implicit.test: %d messages in mx1's maildir, want 1", got)
	}
	codes := map[string]string{}
	for _, b := range d.bouncesFor(msg["id"].(string)) {
		codes[b["rcpt"].(string)] = fmt.Sprint(b["enhanced"])
	}
	if want := map[string]string{"b@nullmx.test": "5.1.10", "c@nope.test": "5.1.2"}; !mapsEqual(codes, want) {
		t.Errorf("bounce log: %v, want %v", codes, want)
	}
	summary(t, "dnsmasq %d answers checked; implicit MX delivered to mx1, null MX bounced %s, NXDOMAIN bounced %s, %.1fs",
		len(answers), codes["b@nullmx.test"], codes["c@nope.test"], time.Since(start).Seconds())
}

// e2eMessages are submitted by swaks and must arrive unchanged but for the
// header fields Outbox and Postfix add. The second lacks Date and
// Message-ID, which Outbox adds.
var e2eMessages = []struct{ name, to, data string }{
	{"full", "e2e-full@example.test", "From: Sender <sender@sender.test>\r\n" +
		"To: e2e-full@example.test\r\n" +
		"Subject: end to end, all fields\r\n" +
		"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n" +
		"Message-ID: <e2e-full@sender.test>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: 8bit\r\n" +
		"X-Folded: first part\r\n\tsecond part\r\n" +
		"\r\n" +
		"Line one\r\n" +
		".a line starting with a dot\r\n" +
		"..two dots\r\n" +
		"From the start of a line\r\n" +
		"trailing spaces   \r\n" +
		"\r\n" +
		"8-bit: h\xc3\xa9llo w\xc3\xb6rld\r\n" +
		strings.Repeat("x", 900) + "\r\n" +
		"last line\r\n"},
	{"bare", "e2e-bare@example.test", "From: sender@sender.test\r\n" +
		"To: e2e-bare@example.test\r\n" +
		"Subject: end to end, no Date or Message-ID\r\n" +
		"\r\n" +
		"short body\r\n"},
}

// testEndToEnd submits through swaks (STARTTLS, AUTH) and compares what
// Postfix wrote into its maildir with what was submitted.
func (w *peerWorld) testEndToEnd(t *testing.T) {
	dir := t.TempDir()
	cert, key := w.ca.issue(t, "outbox", "outbox.test", "127.0.0.1")
	d := w.outbox(t, fmt.Sprintf(`trusted_networks = []
[tls]
cert_file = %q
key_file = %q
[[users]]
name = "app"
password_hash = %q
`, cert, key, passwdHash(t, "s3cret-app")), "")
	start := time.Now()
	added, diffs := 0, 0
	for _, m := range e2eMessages {
		file := filepath.Join(dir, m.name+".eml")
		// swaks ends DATA with CRLF "." CRLF after the data as given:
		// the file must not end in a line break of its own.
		writeFile(t, file, strings.TrimSuffix(m.data, "\r\n"))
		swaksSend(t, d.smtp, "sender@sender.test", m.to, file)
	}
	for _, m := range e2eMessages {
		var got []mailMsg
		waitFor(t, m.to+" in mx1's maildir", 30*time.Second, func() bool {
			got = w.mx1.messages(t, m.to)
			return len(got) > 0
		})
		if len(got) != 1 {
			t.Fatalf("%s: %d messages, want 1", m.to, len(got))
		}
		a, d := compareDelivered(t, m.name, parseMail([]byte(m.data)), got[0], m.to)
		added, diffs = added+a, diffs+d
	}
	d.waitQueueEmpty(10 * time.Second)
	summary(t, "%d messages swaks (STARTTLS+AUTH) -> outbox -> postfix mx1 maildir: %d differences in body and header beyond %d added fields (Received x2, Return-Path, X-Original-To, Delivered-To; Date, Message-ID where missing), %.1fs",
		len(e2eMessages), diffs, added, time.Since(start).Seconds())
}

// compareDelivered checks that got is sent plus only the fields Outbox
// and Postfix may add; it returns how many were added and how many
// differences it found.
func compareDelivered(t *testing.T, name string, sent, got mailMsg, rcpt string) (added, diffs int) {
	t.Helper()
	errorf := func(format string, args ...any) {
		t.Helper()
		diffs++
		t.Errorf(format, args...)
	}
	if !bytes.Equal(got.Body, sent.Body) {
		errorf("%s: body differs\nsent:\n%q\ndelivered:\n%q", name, sent.Body, got.Body)
	}
	hasSent := func(n string) bool { return len(sent.header(n)) > 0 }
	mayAdd := map[string]bool{"return-path": true, "x-original-to": true, "delivered-to": true,
		"received": true, "dkim-signature": true,
		"date": !hasSent("Date"), "message-id": !hasSent("Message-ID")}
	var kept []string
	counts := map[string]int{}
	for _, f := range got.Fields {
		n, _, _ := strings.Cut(f, ":")
		if mayAdd[strings.ToLower(n)] {
			counts[strings.ToLower(n)]++
			continue
		}
		kept = append(kept, f)
	}
	if !slices.Equal(kept, sent.Fields) {
		errorf("%s: header fields differ\nsent:\n%s\ndelivered (added fields removed):\n%s",
			name, strings.Join(sent.Fields, "\n"), strings.Join(kept, "\n"))
	}
	want := map[string]int{"return-path": 1, "x-original-to": 1, "delivered-to": 1, "received": 2}
	if !hasSent("Date") {
		want["date"] = 1
	}
	if !hasSent("Message-ID") {
		want["message-id"] = 1
	}
	delete(counts, "dkim-signature") // signing is not configured here; its own test checks it
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		errorf("%s: added fields %v, want %v\n%s", name, counts, want, got.Raw)
	}
	rcv := got.header("Received")
	if len(rcv) == 2 && (!strings.Contains(rcv[0], "by mx1.example.test") || !strings.Contains(rcv[1], "by outbox.test")) {
		errorf("%s: Received fields: %q", name, rcv)
	}
	if rp := got.header("Return-Path"); len(rp) != 1 || rp[0] != "<sender@sender.test>" {
		errorf("%s: Return-Path %q", name, rp)
	}
	if dt := got.header("Delivered-To"); len(dt) != 1 || dt[0] != rcpt {
		errorf("%s: Delivered-To %q", name, dt)
	}
	for _, c := range counts {
		added += c
	}
	return added, diffs
}

// testTLS delivers with policy "verify" to mx1 (STARTTLS, certificate
// from the CA Outbox trusts) and with policy "required" to mx2, which
// offers no STARTTLS: that recipient must stay deferred.
func (w *peerWorld) testTLS(t *testing.T) {
	d := w.outbox(t, "", `tls_policy = "opportunistic"
[delivery.tls_policies]
"example.test" = "verify"
"notls.test" = "required"
`)
	start := time.Now()
	const from = "tls@sender.test"
	smtplibSend(t, d.smtp, from, []string{"tls@example.test"},
		"From: tls@sender.test\r\nSubject: verified\r\n\r\nover TLS\r\n")
	msg := d.waitStates(from, map[string]string{"tls@example.test": "delivered"}, 30*time.Second)
	h := history(msg, "tls@example.test")
	if len(h) != 1 || !strings.HasPrefix(fmt.Sprint(h[0]["host"]), "mx1.example.test[127.0.0.2]") || !strings.HasSuffix(fmt.Sprint(h[0]["tls"]), " verified") {
		t.Errorf("attempt history: %s", showJSON(h))
	}
	id := msg["id"].(string)
	if show := d.cli("queue", "show", id); !strings.Contains(show, "verified") {
		t.Errorf("queue show %s does not say verified:\n%s", id, show)
	}
	// Postfix's side of it, from its Received field.
	got := w.mx1.messages(t, "tls@example.test")
	if len(got) != 1 || !strings.Contains(got[0].header("Received")[0], "using TLS") {
		t.Errorf("mx1 has %d messages for tls@example.test; the first's Received field does not record TLS:\n%s",
			len(got), firstRaw(got))
	}

	const from2 = "tls-required@sender.test"
	smtplibSend(t, d.smtp, from2, []string{"required@notls.test"},
		"From: tls-required@sender.test\r\nSubject: required\r\n\r\nmust not go in plain text\r\n")
	var m2 map[string]any
	waitFor(t, "two deferred attempts to notls.test", 30*time.Second, func() bool {
		m2 = d.message(from2)
		return recipients(m2)["required@notls.test"] == "deferred" && attempts(m2, "required@notls.test") >= 2
	})
	reply := fmt.Sprint(recipientField(m2, "required@notls.test")["last_reply"])
	if !strings.Contains(strings.ToUpper(reply), "STARTTLS") {
		t.Errorf("deferral reason %q does not name STARTTLS", reply)
	}
	if n := len(w.mx2.messages(t, "required@notls.test")); n != 0 {
		t.Errorf("%d messages reached mx2 in plain text", n)
	}
	d.cli("queue", "delete", m2["id"].(string))
	summary(t, "policy verify -> mx1: delivered, tls %q; policy required -> mx2 without STARTTLS: deferred after %d attempts (%q), 0 delivered, %.1fs",
		h[0]["tls"], attempts(m2, "required@notls.test"), reply, time.Since(start).Seconds())
}

// testPartial sends one message to a recipient Postfix accepts, one it
// refuses with 550 and one with 450, under at-least-one yes (the config
// default) or no (the per-message header). Then mx1 stops refusing the
// 450 one and a flush delivers it.
func (w *peerWorld) testPartial(t *testing.T, atLeastOne bool) {
	yn := map[bool]string{true: "yes", false: "no"}[atLeastOne]
	var (
		from    = "partial-" + yn + "@sender.test"
		ok      = "ok-" + yn + "@example.test"
		unknown = "unknown@example.test"
		later   = "later-" + yn + "@example.test"
	)
	// One message per connection: an smtpd process Outbox kept a session
	// open with would keep the recipient table it had before the reload.
	// One automatic retry after ~3s, the next ~6s later: the flush below,
	// not a retry, is what delivers the 450 recipient.
	d := w.outbox(t, "", `max_messages_per_connection = 1
first_retry = "3s"
max_retry_interval = "1h"`)
	start := time.Now()
	override := ""
	if !atLeastOne {
		override = "X-Outbox-At-Least-One: no\r\n"
	}
	smtplibSend(t, d.smtp, from, []string{ok, unknown, later},
		"From: "+from+"\r\nTo: "+ok+"\r\nSubject: partial "+yn+"\r\n"+override+"\r\nthree recipients\r\n")

	want := map[string]string{ok: "delivered", unknown: "bounced", later: "deferred"}
	if !atLeastOne {
		want[ok] = "deferred" // RSET: nobody gets it while one is refused
	}
	var msg map[string]any
	waitFor(t, "an automatic retry of "+later, 30*time.Second, func() bool {
		msg = d.message(from)
		return attempts(msg, later) >= 2
	})
	// At once, before the next automatic retry: Postfix stops refusing the
	// 450 recipient, and a flush makes the message due.
	retried, refusals := msg, attempts(msg, later)
	okBefore := len(w.mx1.messages(t, ok))
	w.allow(t, later)
	flushed := time.Now()
	id := msg["id"].(string)
	d.cli("queue", "flush", id)

	// The state after the retry. Under all-or-nothing the recipients not
	// bounced are "retried later together" (delivery/doc.go): ok must not be
	// delivered while later is refused.
	if got := recipients(retried); !mapsEqual(got, want) {
		t.Errorf("after %d attempts of %s: states %v, want %v\n%s", refusals, later, got, want, showJSON(retried))
	}
	if wantN := map[bool]int{true: 1, false: 0}[atLeastOne]; okBefore != wantN {
		t.Errorf("%s: %d messages in mx1's maildir after the first retry, want %d", ok, okBefore, wantN)
	}
	if r := fmt.Sprint(recipientField(retried, later)["last_reply"]); !strings.Contains(r, "450 4.2.1") {
		t.Errorf("%s: last reply %q, want Postfix's 450 4.2.1", later, r)
	}

	// The bounce log has exactly the 550 row.
	rows := d.bouncesFor(id)
	if len(rows) != 1 || rows[0]["rcpt"] != unknown || fmt.Sprint(rows[0]["code"]) != "550" ||
		rows[0]["enhanced"] != "5.1.1" || !strings.Contains(fmt.Sprint(rows[0]["diag"]), "User unknown") {
		t.Errorf("bounce log rows for %s: %s", id, showJSON(rows))
	}

	// The sender receives a DSN naming the 550 recipient only.
	w.checkFailureDSN(t, from, unknown, "Subject: partial "+yn, later, ok)

	// The flush delivered what was deferred, exactly once.
	msg = d.waitStates(from, map[string]string{ok: "delivered", unknown: "bounced", later: "delivered"}, 30*time.Second)
	afterFlush := time.Since(flushed)
	if h := history(msg, later); attempts(msg, later) != refusals+1 || len(h) == 0 ||
		h[len(h)-1]["result"] != "delivered" || attemptTime(h[len(h)-1]).Before(flushed) {
		t.Errorf("%s: not delivered by the attempt the flush at %s started:\n%s", later, flushed.UTC().Format(time.RFC3339Nano), showJSON(h))
	}
	for _, r := range []string{ok, later} {
		got := w.mx1.messages(t, r)
		if len(got) != 1 {
			t.Errorf("%s: %d messages in mx1's maildir, want exactly 1", r, len(got))
			continue
		}
		if len(got[0].header("X-Outbox-At-Least-One")) != 0 {
			t.Errorf("%s: the override header was delivered", r)
		}
	}
	if n := len(w.mx1.messages(t, from)); n != 1 {
		t.Errorf("sender got %d notices, want 1 DSN", n)
	}
	summary(t, "250/550/450 in one message: after the first retry %d copies at %s; 550 bounced: %d bounce-log rows, %d DSN to the sender; 450 refused %d times, then postfix reload + flush: delivered %.1fs later in %d attempt(s); final states %v; %.1fs",
		okBefore, ok, len(rows), len(w.mx1.messages(t, from)), refusals, afterFlush.Seconds(), attempts(msg, later)-refusals,
		recipients(msg), time.Since(start).Seconds())
}

// checkFailureDSN waits for the bounce notice in from's maildir at mx1 and
// checks it: a delivery-status report from <> about failed, 550 5.1.1,
// quoting the original's subject line, and naming none of notFailed.
func (w *peerWorld) checkFailureDSN(t *testing.T, from, failed, subject string, notFailed ...string) {
	t.Helper()
	var dsnMsgs []mailMsg
	waitFor(t, "the DSN in the sender's maildir", 30*time.Second, func() bool {
		dsnMsgs = w.mx1.messages(t, from)
		return len(dsnMsgs) > 0
	})
	dsn := dsnMsgs[0]
	text := string(dsn.Raw)
	for _, s := range []string{"report-type=delivery-status", "Final-Recipient: rfc822; " + failed,
		"Action: failed", "Status: 5.1.1", "Diagnostic-Code: smtp; 550 5.1.1", subject} {
		if !strings.Contains(text, s) {
			t.Errorf("DSN lacks %q:\n%s", s, text)
		}
	}
	if rp := dsn.header("Return-Path"); len(rp) != 1 || rp[0] != "<>" {
		t.Errorf("DSN Return-Path %q, want <>", rp)
	}
	for _, r := range notFailed {
		if strings.Contains(text, "Final-Recipient: rfc822; "+r) {
			t.Errorf("DSN names %s, which did not fail:\n%s", r, text)
		}
	}
}

// testMXFallback stops mx1: mail goes to mx2. With both down it waits;
// mx1 back and a flush deliver it there, and new mail goes to mx1 again.
func (w *peerWorld) testMXFallback(t *testing.T) {
	d := w.outbox(t, "", "")
	t.Cleanup(func() { // leave the world as found, even on failure
		for _, p := range []*postfix{w.mx1, w.mx2} {
			if p.masterPID() == 0 {
				p.start(t)
			}
		}
	})
	start := time.Now()
	send := func(from, to string) {
		smtplibSend(t, d.smtp, from, []string{to}, "From: "+from+"\r\nSubject: fallback\r\n\r\nto "+to+"\r\n")
	}
	lastHost := func(msg map[string]any, rcpt string) string {
		h := history(msg, rcpt)
		if len(h) == 0 {
			return ""
		}
		return fmt.Sprint(h[len(h)-1]["host"])
	}

	w.mx1.stop(t)
	send("fb1@sender.test", "fb1@example.test")
	m1 := d.waitStates("fb1@sender.test", map[string]string{"fb1@example.test": "delivered"}, 30*time.Second)
	if h := lastHost(m1, "fb1@example.test"); !strings.HasPrefix(h, "mx2.example.test[") || len(w.mx2.messages(t, "fb1@example.test")) != 1 {
		t.Errorf("with mx1 down: delivered via %q, %d in mx2's maildir", h, len(w.mx2.messages(t, "fb1@example.test")))
	}

	w.mx2.stop(t)
	send("fb2@sender.test", "fb2@example.test")
	var m2 map[string]any
	waitFor(t, "a deferral with both MX down", 30*time.Second, func() bool {
		m2 = d.message("fb2@sender.test")
		return recipients(m2)["fb2@example.test"] == "deferred"
	})
	w.mx1.start(t)
	flushed := time.Now()
	d.cli("queue", "flush", "--all")
	m2 = d.waitStates("fb2@sender.test", map[string]string{"fb2@example.test": "delivered"}, 30*time.Second)
	resume := time.Since(flushed)
	if h := lastHost(m2, "fb2@example.test"); !strings.HasPrefix(h, "mx1.example.test[") || len(w.mx1.messages(t, "fb2@example.test")) != 1 {
		t.Errorf("after mx1 restarted: delivered via %q, %d in mx1's maildir", h, len(w.mx1.messages(t, "fb2@example.test")))
	}

	w.mx2.start(t)
	send("fb3@sender.test", "fb3@example.test")
	m3 := d.waitStates("fb3@sender.test", map[string]string{"fb3@example.test": "delivered"}, 30*time.Second)
	if h := lastHost(m3, "fb3@example.test"); !strings.HasPrefix(h, "mx1.example.test[") || len(w.mx1.messages(t, "fb3@example.test")) != 1 {
		t.Errorf("with both up: delivered via %q", h)
	}
	summary(t, "mx1 down -> fb1 via %s; both down -> fb2 deferred (%d attempts); mx1 back + flush -> fb2 via %s in %.1fs; fb3 via %s; %.1fs total",
		lastHost(m1, "fb1@example.test"), attempts(m2, "fb2@example.test")-1, lastHost(m2, "fb2@example.test"),
		resume.Seconds(), lastHost(m3, "fb3@example.test"), time.Since(start).Seconds())
}

// testLoad submits with Postfix's smtp-source and waits for every message
// in mx1's maildir, each exactly once.
func (w *peerWorld) testLoad(t *testing.T) {
	const n, sessions = 200, 5
	source := needTool(t, "smtp-source")
	d := w.outbox(t, "", "")
	start := time.Now()
	cmd := exec.Command(source, "-s", fmt.Sprint(sessions), "-m", fmt.Sprint(n), "-l", "2048",
		"-M", "client.test", "-f", "load@sender.test", "-t", "load@example.test", d.smtp)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("smtp-source: %v\n%s", err, out)
	}
	accepted := time.Since(start)
	var got []mailMsg
	waitFor(t, fmt.Sprintf("%d messages in mx1's maildir", n), 90*time.Second, func() bool {
		got = w.mx1.messages(t, "load@example.test")
		return len(got) >= n
	})
	delivered := time.Since(start)
	d.waitQueueEmpty(30 * time.Second)
	ids := map[string]int{}
	for _, m := range got {
		for _, id := range m.header("Message-ID") {
			ids[id]++
		}
	}
	dups := len(got) - len(ids)
	if len(got) != n || len(ids) != n {
		t.Errorf("mx1 has %d messages with %d distinct Message-IDs, want %d", len(got), len(ids), n)
	}
	summary(t, "smtp-source %d msgs x %d sessions: accepted in %.1fs (%.0f msg/s), all %d in mx1's maildir after %.1fs (%.0f msg/s end to end), %d duplicates",
		n, sessions, accepted.Seconds(), n/accepted.Seconds(), len(got), delivered.Seconds(), n/delivered.Seconds(), dups)
}

// firstRaw is the first message of ms as text, for failure messages.
func firstRaw(ms []mailMsg) string {
	if len(ms) == 0 {
		return "(none)"
	}
	return string(ms[0].Raw)
}

// attemptTime is the time of one attempt of a queue list --json history.
func attemptTime(a map[string]any) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(a["time"]))
	return t
}
