package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery/smtptest"
)

// smtpOptionsClient is a Python smtplib client: EHLO, then the MAIL
// transactions of argv[2] (a JSON list of [user, mail options]; user ""
// submits without AUTH from loopback), printing a JSON object with the
// EHLO keywords and, per transaction, MAIL's reply or the queue ID.
const smtpOptionsClient = `
import json, smtplib, sys
host, port = sys.argv[1].rsplit(":", 1)
out = {"results": []}
for user, opts in json.loads(sys.argv[2]):
    s = smtplib.SMTP(host, int(port))
    s.ehlo("client.test")
    out["futurerelease"] = s.has_extn("futurerelease") and s.esmtp_features["futurerelease"]
    out["mt-priority"] = s.has_extn("mt-priority")
    if user:
        s.login(user, "s3cret-app")
    code, msg = s.mail("shop@example.com", opts)
    if code != 250:
        out["results"].append("%d %s" % (code, msg.decode()))
        s.quit()
        continue
    s.rcpt("ann@example.net")
    code, msg = s.data(b"Subject: options\r\n\r\nx\r\n")
    out["results"].append(msg.decode().rsplit(" ", 1)[-1] if code == 250 else "%d %s" % (code, msg.decode()))
    s.quit()
print(json.dumps(out))
`

// TestSMTPFutureReleaseAndPriority: against the real daemon, with Python's
// smtplib as the client: the EHLO reply offers FUTURERELEASE and
// MT-PRIORITY; a message held with HOLDFOR is not attempted before its
// time and is delivered after it; MT-PRIORITY lowers anyone's lane but
// raises only an authenticated user's; bad values get RFC 4865's and RFC
// 6710's replies; go-smtp's own MAIL parameters still work beside them;
// and a MAIL line cut across TCP segments is read whole.
func TestSMTPFutureReleaseAndPriority(t *testing.T) {
	python := needTool(t, "/usr/bin/python3")
	w := newMXWorld(t, "example.net. MX 10 mx.example.net.", "mx.example.net. A 127.0.0.3")
	mx := w.mx(t, "127.0.0.3", smtptest.Options{})
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	users := fmt.Sprintf("[[users]]\nname = \"app\"\npassword_hash = %q\n", passwdHash(t, "s3cret-app"))
	d := startDaemon(t, dir, w.config(t, dir, addr, users), addr)

	script := filepath.Join(dir, "client.py")
	writeFile(t, script, smtpOptionsClient)
	txs := [][2]any{
		{"", []string{"HOLDFOR=6"}},                                   // 0: held
		{"", []string{"MT-PRIORITY=5"}},                               // 1: not raised without AUTH
		{"", []string{"MT-PRIORITY=-5"}},                              // 2: lowered
		{"app", []string{"MT-PRIORITY=5"}},                            // 3: raised, authenticated
		{"", []string{"HOLDFOR=abc"}},                                 // 4
		{"", []string{"HOLDFOR=99999999"}},                            // 5: over the 30 days offered
		{"", []string{"HOLDFOR=5", "HOLDUNTIL=2030-01-01T00:00:00Z"}}, // 6
		{"", []string{"MT-PRIORITY=10"}},                              // 7
		{"", []string{"REQUIRETLS", "HOLDFOR=5"}},                     // 8: go-smtp's, refused outside TLS
		{"", []string{"SIZE=100", "BODY=8BITMIME", "SMTPUTF8", "RET=HDRS", "ENVID=env+2B1",
			"AUTH=<>", "MT-PRIORITY=-1", "HOLDFOR=1"}}, // 9: beside go-smtp's own
	}
	arg, _ := json.Marshal(txs)
	sent := time.Now()
	raw, err := exec.Command(python, script, addr, string(arg)).CombinedOutput()
	if err != nil {
		t.Fatalf("client: %v\n%s", err, raw)
	}
	var out struct {
		FutureRelease any      `json:"futurerelease"`
		MTPriority    bool     `json:"mt-priority"`
		Results       []string `json:"results"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || len(out.Results) != len(txs) {
		t.Fatalf("client output %s: %v", raw, err)
	}
	fr, _ := out.FutureRelease.(string)
	if f := strings.Fields(fr); len(f) != 2 || f[0] != "2592000" || !strings.HasSuffix(f[1], "Z") || !out.MTPriority {
		t.Fatalf("EHLO: FUTURERELEASE %q, MT-PRIORITY %v", fr, out.MTPriority)
	}
	for i, want := range map[int]string{4: "501 5.5.4", 5: "554 5.3.4 Requested hold time too long",
		6: "501 5.5.4", 7: "501 5.5.4", 8: "530 5.7.10"} {
		if !strings.HasPrefix(out.Results[i], want) {
			t.Errorf("transaction %d %v: %q, want %q", i, txs[i][1], out.Results[i], want)
		}
	}
	r := out.Results
	if show := d.cli("queue", "show", r[0]); !strings.Contains(show, "scheduled:") || !strings.Contains(show, "attempts 0") {
		t.Errorf("queue show of the held message:\n%s", show)
	}
	checkHeldUntil(t, mx, r[0], sent.Add(6*time.Second))
	for i, want := range map[int]string{1: "", 2: "priority:  bulk", 3: "priority:  high"} {
		show := d.cli("queue", "show", r[i])
		if (want == "" && strings.Contains(show, "priority:")) || !strings.Contains(show, want) {
			t.Errorf("transaction %d %v: queue show\n%s", i, txs[i][1], show)
		}
	}
	var m9 struct {
		Message struct {
			EnvID        string    `json:"envid"`
			Ret          string    `json:"ret"`
			Priority     string    `json:"priority"`
			DeliverAfter time.Time `json:"deliver_after"`
		} `json:"message"`
	}
	if err := json.Unmarshal([]byte(d.cli("queue", "show", "--json", r[9])), &m9); err != nil ||
		m9.Message.EnvID != "env+1" || m9.Message.Priority != "bulk" || m9.Message.DeliverAfter.IsZero() {
		t.Errorf("transaction 9: %+v %v", m9, err)
	}
	checkSplitMailLine(t, d, addr)
}

// checkHeldUntil waits for the message id at mx and checks that it was
// received not before release.
func checkHeldUntil(t *testing.T, mx *smtptest.Server, id string, release time.Time) {
	t.Helper()
	var got smtptest.Message
	waitFor(t, "the held message", 30*time.Second, func() bool {
		for _, m := range mx.Messages() {
			if strings.Contains(string(m.Data), id) {
				got = m
				return true
			}
		}
		return false
	})
	// HOLDFOR counts from MAIL, which the client sent before it got the ID.
	if early := release.Add(-300 * time.Millisecond); got.Received.Before(early) {
		t.Fatalf("the held message was received at %s, before its release at %s", got.Received.Format(time.StampMilli), release.Format(time.StampMilli))
	}
}

// checkSplitMailLine sends a MAIL line cut across TCP segments, inside a
// parameter, and checks that its parameters took effect.
func checkSplitMailLine(t *testing.T, d *daemon, addr string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	sess := newLineSession(t, c)
	sess.expect("220")
	sess.send("EHLO client.test\r\n")
	sess.expect("250 ")
	for _, part := range []string{"MAIL FROM:<shop@example.com> MT-PRI", "ORITY=-2 HOLD", "FOR=60\r", "\n"} {
		sess.send(part)
	}
	sess.expect("250 ")
	sess.send("RCPT TO:<ann@example.net>\r\n")
	sess.expect("250 ")
	sess.send("DATA\r\n")
	sess.expect("354 ")
	sess.send("Subject: split\r\n\r\nx\r\n.\r\n")
	id := sess.expect("250 ")
	id = id[strings.LastIndexByte(id, ' ')+1:]
	if show := d.cli("queue", "show", id); !strings.Contains(show, "scheduled:") || !strings.Contains(show, "priority:  bulk") {
		t.Errorf("the split MAIL line's message:\n%s", show)
	}
}

// lineSession speaks SMTP by hand, each send one write (one segment with
// Go's TCP_NODELAY).
type lineSession struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func newLineSession(t *testing.T, c net.Conn) *lineSession {
	return &lineSession{t: t, c: c, r: bufio.NewReader(c)}
}

func (s *lineSession) send(p string) {
	s.t.Helper()
	if _, err := s.c.Write([]byte(p)); err != nil {
		s.t.Fatal(err)
	}
}

// expect reads one reply and fails unless its last line starts with prefix.
func (s *lineSession) expect(prefix string) string {
	s.t.Helper()
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("reading reply: %v", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) >= 4 && line[3] == '-' {
			continue
		}
		if !strings.HasPrefix(line, prefix) {
			s.t.Fatalf("reply %q, want %q", line, prefix)
		}
		return line
	}
}
