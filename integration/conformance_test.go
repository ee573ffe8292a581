package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// confWorld is the loopback Internet of the delivery-conformance scenarios:
// two private Postfix receivers that behave as the scenarios need.
//
//	limit.test   MX mxlimit (127.0.0.6): smtpd_recipient_limit = 30 (452
//	             4.5.3 to the 31st RCPT), neither SMTPUTF8 nor DSN offered,
//	             message_size_limit = 20000
//	dsn.test     MX mxdsn (127.0.0.7): Postfix defaults, DSN offered;
//	             refused@ and never@ get 550, later@ and quiet@ 450
//	sender.test  MX mxdsn: where every notice to a sender arrives
type confWorld struct {
	dns              *dnsmasq
	mxlimit, mxdsn   *postfix
	outboxFirstRetry string
}

func newConfWorld(t *testing.T) *confWorld {
	t.Helper()
	needTool(t, "postfix")
	needTool(t, "dnsmasq")
	lockPeers(t)
	w := &confWorld{}
	w.dns = startDNSMasq(t,
		"--mx-host=limit.test,mxlimit.test,10",
		"--mx-host=dsn.test,mxdsn.test,10",
		"--mx-host=sender.test,mxdsn.test,10",
		"--host-record=mxlimit.test,127.0.0.6",
		"--host-record=mxdsn.test,127.0.0.7",
	)
	w.mxlimit = startPostfix(t, postfixOptions{
		Name: "mxlimit", IP: "127.0.0.6", Hostname: "mxlimit.test",
		Domains: []string{"limit.test"},
		MainCF: "smtpd_recipient_limit = 30\n" +
			"smtpd_discard_ehlo_keywords = smtputf8, dsn\n" +
			"message_size_limit = 20000\n",
	})
	w.mxdsn = startPostfix(t, postfixOptions{
		Name: "mxdsn", IP: "127.0.0.7", Hostname: "mxdsn.test",
		Domains: []string{"dsn.test", "sender.test"},
		Access: map[string]string{
			"refused@dsn.test": "550 5.1.1 User unknown in test table",
			"never@dsn.test":   "550 5.1.1 User unknown in test table",
			"later@dsn.test":   "450 4.2.1 Try again later (test table)",
			"quiet@dsn.test":   "450 4.2.1 Try again later (test table)",
		},
	})
	return w
}

// outbox starts a daemon delivering into this world. Retries come only
// after ten minutes: nothing in these scenarios may wait for one. A
// recipient deferred for a second gets a delay warning, checked for
// every second.
func (w *confWorld) outbox(t *testing.T) *daemon {
	t.Helper()
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	cfg := fmt.Sprintf(`hostname = "outbox.test"
[limits]
max_recipients = 200
[spool]
dir = %q
[[listen.submission]]
address = %q
[delivery]
resolver = %q
first_retry = "10m"
delay_warning = "1s"
[cron]
delay_warnings = "@every 1s"
`, dir+"/spool", addr, w.dns.Addr)
	return startDaemon(t, dir, cfg, addr)
}

// TestDeliveryConformance runs Outbox where it used to differ from
// Postfix: a receiver's recipient limit, SMTPUTF8 asked for but not
// needed, duplicate recipients, local decisions in bounces, and the DSN
// extension (RFC 3461) end to end. The subtests share the peers and one
// daemon and print a summary line each.
func TestDeliveryConformance(t *testing.T) {
	w := newConfWorld(t)
	d := w.outbox(t)
	t.Run("recipient_limit_452", func(t *testing.T) { w.testRecipientLimit(t, d) })
	t.Run("smtputf8_not_needed", func(t *testing.T) { w.testSMTPUTF8(t, d) })
	t.Run("duplicate_recipients", func(t *testing.T) { w.testDuplicates(t, d) })
	t.Run("local_diagnostics", func(t *testing.T) { w.testLocalDiagnostics(t, d) })
	t.Run("dsn_success_by_next_hop", func(t *testing.T) { w.testSuccessByNextHop(t, d) })
	t.Run("dsn_relayed", func(t *testing.T) { w.testRelayed(t, d) })
	t.Run("dsn_never_and_ret_full", func(t *testing.T) { w.testNeverAndRetFull(t, d) })
	t.Run("dsn_delay", func(t *testing.T) { w.testDelay(t, d) })
}

// 150 recipients at a Postfix that takes 30 per transaction (below
// Outbox's own 50): each transaction ends at Postfix's 452 4.5.3 and the
// rest follow at once; all delivered in the first attempt, none deferred
// into the back-off.
func (w *confWorld) testRecipientLimit(t *testing.T, d *daemon) {
	const from = "many@sender.test"
	var rcpts []rcptSpec
	want := map[string]string{}
	for i := range 150 {
		a := fmt.Sprintf("r%03d@limit.test", i)
		rcpts = append(rcpts, rcptSpec{Addr: a})
		want[a] = "delivered"
	}
	start := time.Now()
	dsnSend(t, d.smtp, from, nil, rcpts, "From: many@sender.test\r\nSubject: 150 recipients\r\n\r\nhello\r\n")
	msg := d.waitStates(from, want, 60*time.Second)
	took := time.Since(start)
	for a := range want {
		if n := attempts(msg, a); n != 1 {
			t.Errorf("%s: %d attempts, want 1", a, n)
		}
	}
	if got := len(w.mxlimit.messages(t, "")); got != 150 {
		t.Errorf("mxlimit's maildir has %d messages, want 150", got)
	}
	txs := w.mxlimit.queuedRcpts(t, from)
	if fmt.Sprint(txs) != "[30 30 30 30 30]" {
		t.Errorf("Postfix queued transactions of %v recipients, want [30 30 30 30 30]", txs)
	}
	summary(t, "150 recipients to Postfix smtpd_recipient_limit = 30 (452 4.5.3): 150 delivered in the first attempt, transactions of %v recipients, %.1fs", txs, took.Seconds())
}

// The SMTPUTF8 parameter on an all-ASCII message is no reason to bounce
// at a server without SMTPUTF8; a raw UTF-8 Subject still is.
func (w *confWorld) testSMTPUTF8(t *testing.T, d *daemon) {
	dsnSend(t, d.smtp, "ascii@sender.test", []string{"SMTPUTF8"}, []rcptSpec{{Addr: "utf8-ascii@limit.test"}},
		"From: ascii@sender.test\r\nSubject: plain ASCII\r\n\r\nhello\r\n")
	d.waitStates("ascii@sender.test", map[string]string{"utf8-ascii@limit.test": "delivered"}, 30*time.Second)
	dsnSend(t, d.smtp, "raw@sender.test", []string{"SMTPUTF8"}, []rcptSpec{{Addr: "utf8-raw@limit.test"}},
		"From: raw@sender.test\r\nSubject: caf\xc3\xa9\r\n\r\nhello\r\n")
	msg := d.waitStates("raw@sender.test", map[string]string{"utf8-raw@limit.test": "bounced"}, 30*time.Second)
	h := history(msg, "utf8-raw@limit.test")
	if len(h) != 1 || h[0]["enhanced"] != "5.6.7" {
		t.Errorf("raw UTF-8 header: history %s, want one 5.6.7", showJSON(h))
	}
	summary(t, "SMTPUTF8 parameter, ASCII message, server without SMTPUTF8: delivered; raw UTF-8 Subject: bounced 5.6.7")
}

// The same address twice, or with its domain in another case, is one
// recipient, spelled as first given.
func (w *confWorld) testDuplicates(t *testing.T, d *daemon) {
	const from = "dup@sender.test"
	dsnSend(t, d.smtp, from, nil, []rcptSpec{{Addr: "Dup@limit.test"}, {Addr: "Dup@limit.test"}, {Addr: "Dup@LIMIT.Test"}, {Addr: "other@limit.test"}},
		"From: dup@sender.test\r\nSubject: duplicates\r\n\r\nhello\r\n")
	d.waitStates(from, map[string]string{"Dup@limit.test": "delivered", "other@limit.test": "delivered"}, 30*time.Second)
	summary(t, "RCPT Dup@limit.test, Dup@limit.test, Dup@LIMIT.Test, other@limit.test: 2 recipients kept, each delivered once")
}

// A bounce Outbox decides itself (over the server's SIZE, SMTPUTF8 not
// offered) names no Remote-MTA and quotes no SMTP reply in the notice.
func (w *confWorld) testLocalDiagnostics(t *testing.T, d *daemon) {
	big := "From: size@sender.test\r\nSubject: too big\r\n\r\n" + strings.Repeat(strings.Repeat("x", 76)+"\r\n", 400)
	dsnSend(t, d.smtp, "size@sender.test", nil, []rcptSpec{{Addr: "big@limit.test"}}, big)
	d.waitStates("size@sender.test", map[string]string{"big@limit.test": "bounced"}, 30*time.Second)
	dsnSend(t, d.smtp, "rawhdr@sender.test", []string{"SMTPUTF8"}, []rcptSpec{{Addr: "rawhdr@limit.test"}},
		"From: rawhdr@sender.test\r\nSubject: na\xc3\xafve\r\n\r\nhello\r\n")
	d.waitStates("rawhdr@sender.test", map[string]string{"rawhdr@limit.test": "bounced"}, 30*time.Second)
	for _, c := range []struct{ sender, status string }{{"size@sender.test", "5.3.4"}, {"rawhdr@sender.test", "5.6.7"}} {
		n := waitNotice(t, w.mxdsn, c.sender)
		raw := string(n.Raw)
		for _, want := range []string{"Action: failed", "Status: " + c.status, "Diagnostic-Code: X-Outbox;"} {
			if !strings.Contains(raw, want) {
				t.Errorf("notice to %s lacks %q:\n%s", c.sender, want, raw)
			}
		}
		for _, bad := range []string{"Remote-MTA", "smtp; 552", "smtp; 550"} {
			if strings.Contains(raw, bad) {
				t.Errorf("notice to %s has %q, a reply no server sent:\n%s", c.sender, bad, raw)
			}
		}
	}
	summary(t, "local decisions (SIZE 5.3.4, SMTPUTF8 5.6.7): notices with Diagnostic-Code X-Outbox, no Remote-MTA")
}

// NOTIFY=SUCCESS with ORCPT and ENVID to a next hop that offers DSN: the
// parameters reach it, it sends the "delivered" notice, Outbox sends none.
func (w *confWorld) testSuccessByNextHop(t *testing.T, d *daemon) {
	const from = "success@sender.test"
	dsnSend(t, d.smtp, from, []string{"RET=HDRS", "ENVID=env-success"},
		[]rcptSpec{{Addr: "ok@dsn.test", Opts: []string{"NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;OK+40dsn.test"}}},
		"From: success@sender.test\r\nSubject: tell me\r\n\r\nhello\r\n")
	msg := d.waitStates(from, map[string]string{"ok@dsn.test": "delivered"}, 30*time.Second)
	n := waitNotice(t, w.mxdsn, from)
	raw := string(n.Raw)
	for _, want := range []string{"Reporting-MTA: dns; mxdsn.test", "Original-Envelope-Id: env-success",
		"Original-Recipient: RFC822;OK@dsn.test", "Action: delivered"} {
		if !strings.Contains(raw, want) {
			t.Errorf("Postfix's notice lacks %q:\n%s", want, raw)
		}
	}
	if got := d.message(from); got["dsn_id"] != nil {
		t.Errorf("Outbox sent a notice too: %s", showJSON(got))
	}
	if got := len(w.mxdsn.messages(t, from)); got != 1 {
		t.Errorf("%d notices to %s, want Postfix's only", got, from)
	}
	show := d.cli("queue", "show", msg["id"].(string))
	for _, want := range []string{"envid:     env-success", "ret:       HDRS", "dsn: notify=SUCCESS,FAILURE orcpt=rfc822;OK@dsn.test"} {
		if !strings.Contains(show, want) {
			t.Errorf("queue show lacks %q:\n%s", want, show)
		}
	}
	summary(t, "NOTIFY=SUCCESS to Postfix with DSN: parameters passed on, Postfix's \"delivered\" notice with ENVID and ORCPT, none from Outbox")
}

// NOTIFY=SUCCESS to a next hop without DSN: Outbox itself says "relayed".
func (w *confWorld) testRelayed(t *testing.T, d *daemon) {
	const from = "relay@sender.test"
	dsnSend(t, d.smtp, from, []string{"ENVID=env-relayed"},
		[]rcptSpec{{Addr: "ok@limit.test", Opts: []string{"NOTIFY=SUCCESS", "ORCPT=rfc822;Ok+40Limit.test"}}},
		"From: relay@sender.test\r\nSubject: relayed?\r\n\r\nhello\r\n")
	d.waitStates(from, map[string]string{"ok@limit.test": "delivered"}, 30*time.Second)
	n := waitNotice(t, w.mxdsn, from)
	raw := string(n.Raw)
	for _, want := range []string{"Subject: Successful Mail Delivery Report", "Reporting-MTA: dns; outbox.test",
		"Original-Envelope-Id: env-relayed", "Original-Recipient: rfc822;Ok@Limit.test", "Action: relayed", "Status: 2.0.0",
		"Remote-MTA: dns; mxlimit.test"} {
		if !strings.Contains(raw, want) {
			t.Errorf("notice lacks %q:\n%s", want, raw)
		}
	}
	summary(t, "NOTIFY=SUCCESS to Postfix without DSN: Outbox's \"relayed\" notice with ENVID and ORCPT")
}

// NOTIFY=NEVER gets no bounce; RET=FULL returns the whole message.
func (w *confWorld) testNeverAndRetFull(t *testing.T, d *daemon) {
	const from = "full@sender.test"
	dsnSend(t, d.smtp, from, []string{"RET=FULL", "ENVID=env-full"},
		[]rcptSpec{{Addr: "never@dsn.test", Opts: []string{"NOTIFY=NEVER"}}, {Addr: "refused@dsn.test"}},
		"From: full@sender.test\r\nSubject: return it\r\n\r\nthe body that RET=FULL returns\r\n")
	d.waitStates(from, map[string]string{"never@dsn.test": "bounced", "refused@dsn.test": "bounced"}, 30*time.Second)
	n := waitNotice(t, w.mxdsn, from)
	raw := string(n.Raw)
	for _, want := range []string{"Final-Recipient: rfc822; refused@dsn.test", "Original-Envelope-Id: env-full",
		"Content-Type: message/rfc822", "the body that RET=FULL returns", "Remote-MTA: dns; mxdsn.test"} {
		if !strings.Contains(raw, want) {
			t.Errorf("notice lacks %q:\n%s", want, raw)
		}
	}
	if strings.Contains(raw, "never@dsn.test") {
		t.Errorf("notice reports the NOTIFY=NEVER recipient:\n%s", raw)
	}
	summary(t, "NOTIFY=NEVER: no bounce; RET=FULL: message/rfc822 returned")
}

// queuedRcpts is the recipient count (nrcpt) of each message from sender
// that p's queue manager logged, in order.
func (p *postfix) queuedRcpts(t *testing.T, sender string) []int {
	t.Helper()
	b, err := os.ReadFile(p.maillog())
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, "qmgr[") || !strings.Contains(line, "from=<"+sender+">") {
			continue
		}
		if _, n, ok := strings.Cut(line, "nrcpt="); ok {
			v, _ := strconv.Atoi(strings.Fields(n)[0])
			out = append(out, v)
		}
	}
	return out
}

// A delay warning reports the recipients whose NOTIFY has DELAY (or who
// gave none), never one whose NOTIFY leaves it out.
func (w *confWorld) testDelay(t *testing.T, d *daemon) {
	const from = "delay@sender.test"
	dsnSend(t, d.smtp, from, []string{"ENVID=env-delay"},
		[]rcptSpec{{Addr: "later@dsn.test", Opts: []string{"NOTIFY=DELAY,FAILURE"}}, {Addr: "quiet@dsn.test", Opts: []string{"NOTIFY=FAILURE"}}},
		"From: delay@sender.test\r\nSubject: slow\r\n\r\nhello\r\n")
	d.waitStates(from, map[string]string{"later@dsn.test": "deferred", "quiet@dsn.test": "deferred"}, 30*time.Second)
	n := waitNotice(t, w.mxdsn, from)
	raw := string(n.Raw)
	for _, want := range []string{"Subject: Delayed Mail", "Original-Envelope-Id: env-delay",
		"Final-Recipient: rfc822; later@dsn.test", "Action: delayed", "Remote-MTA: dns; mxdsn.test"} {
		if !strings.Contains(raw, want) {
			t.Errorf("delay warning lacks %q:\n%s", want, raw)
		}
	}
	if strings.Contains(raw, "quiet@dsn.test") {
		t.Errorf("delay warning reports the NOTIFY=FAILURE recipient:\n%s", raw)
	}
	summary(t, "NOTIFY=DELAY,FAILURE and NOTIFY=FAILURE, both deferred by Postfix 450: one delay warning, about the first only")
}

// waitNotice waits for the one notice the sender gets at p.
func waitNotice(t *testing.T, p *postfix, sender string) mailMsg {
	t.Helper()
	var got []mailMsg
	waitFor(t, "a notice to "+sender, 30*time.Second, func() bool {
		got = p.messages(t, sender)
		return len(got) > 0
	})
	return got[0]
}

// rcptSpec is one RCPT: its address and its parameters.
type rcptSpec struct {
	Addr string   `json:"addr"`
	Opts []string `json:"opts"`
}

// dsnSend submits msg with Python's smtplib from a trusted network, with
// MAIL parameters mailOpts and each recipient's own RCPT parameters, sent
// whether or not the server advertises them, as applications do; any
// reply but 250 fails the test.
func dsnSend(t *testing.T, addr, from string, mailOpts []string, rcpts []rcptSpec, msg string) {
	t.Helper()
	python := needTool(t, "python3")
	host, port, _ := strings.Cut(addr, ":")
	spec, _ := json.Marshal(map[string]any{"from": from, "mail": append([]string{}, mailOpts...), "rcpts": rcpts})
	script := fmt.Sprintf(`
import json, smtplib, sys
spec = json.loads(sys.argv[1])
s = smtplib.SMTP(%q, %s, timeout=30)
s.ehlo("client.test")
code, text = s.mail(spec["from"], spec["mail"])
assert code == 250, ("MAIL", code, text)
for r in spec["rcpts"]:
    code, text = s.rcpt(r["addr"], r["opts"] or [])
    assert code == 250, ("RCPT", r["addr"], code, text)
code, text = s.data(sys.stdin.buffer.read())
assert code == 250, ("DATA", code, text)
s.quit()
`, host, port)
	cmd := exec.Command(python, "-c", script, string(spec))
	cmd.Stdin = strings.NewReader(msg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("python smtplib: %v\n%s", err, out)
	}
}
