package submission

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// TestCutMailParams: the framer's cut keeps the reverse-path (even with a
// space in a quoted local part) and every other parameter, in order.
func TestCutMailParams(t *testing.T) {
	for _, tt := range []struct {
		arg, want string
		p         mailParams
	}{
		{"FROM:<a@x>", "FROM:<a@x>", mailParams{}},
		{"FROM:<a@x> SIZE=10", "FROM:<a@x> SIZE=10", mailParams{}},
		{"FROM:<a@x> holdfor=60 SIZE=10", "FROM:<a@x> SIZE=10", mailParams{holdFor: "60", hasHoldFor: true}},
		{"FROM:<a@x> MT-PRIORITY=-3 BODY=8BITMIME HOLDUNTIL=2025-06-07T09:00:00Z",
			"FROM:<a@x> BODY=8BITMIME",
			mailParams{priority: "-3", hasPriority: true, holdUntil: "2025-06-07T09:00:00Z", hasHoldUntil: true}},
		{`FROM:<"x HOLDFOR=9"@y> MT-PRIORITY=1`, `FROM:<"x HOLDFOR=9"@y>`, mailParams{priority: "1", hasPriority: true}},
		{"FROM:<a@x> HOLDFOR=1 HOLDUNTIL=x", "FROM:<a@x>",
			mailParams{holdFor: "1", hasHoldFor: true, holdUntil: "x", hasHoldUntil: true, dup: true}},
		{"FROM:<a@x> MT-PRIORITY=1 MT-PRIORITY=2", "FROM:<a@x>", mailParams{priority: "2", hasPriority: true, dup: true}},
		{"FROM:a@x HOLDFOR=1", "FROM:a@x HOLDFOR=1", mailParams{}}, // go-smtp refuses the path
	} {
		got, p := cutMailParams(tt.arg)
		if got != tt.want || p != tt.p {
			t.Errorf("cutMailParams(%q) = %q, %+v; want %q, %+v", tt.arg, got, p, tt.want, tt.p)
		}
	}
}

// TestGrantLane: RFC 6710 §4 — an authenticated client gets the lane it
// asks for; a trusted network without AUTH may lower, never raise, its
// default.
func TestGrantLane(t *testing.T) {
	for _, tt := range []struct {
		asked, def store.Priority
		ok, authed bool
		want       store.Priority
	}{
		{store.PriorityHigh, store.PriorityNormal, true, true, store.PriorityHigh},
		{store.PriorityHigh, store.PriorityNormal, true, false, store.PriorityNormal},
		{store.PriorityBulk, store.PriorityNormal, true, false, store.PriorityBulk},
		{store.PriorityNormal, store.PriorityHigh, true, false, store.PriorityNormal},
		{store.PriorityNormal, store.PriorityBulk, true, false, store.PriorityBulk},
		{store.PriorityBulk, store.PriorityHigh, false, true, store.PriorityHigh},
	} {
		if got := grantLane(tt.asked, tt.ok, tt.def, tt.authed); got != tt.want {
			t.Errorf("grantLane(%v, %v, %v, authed %v) = %v, want %v", tt.asked, tt.ok, tt.def, tt.authed, got, tt.want)
		}
	}
}

// sendRaw runs MAIL (with params), one RCPT and DATA on raw and returns
// the reply to MAIL, or to DATA's end when MAIL was accepted.
func sendRaw(t *testing.T, raw *rawSession, params string) string {
	t.Helper()
	if r := raw.cmd("MAIL FROM:<a@example.com>" + params + "\r\n"); !strings.HasPrefix(r, "250 ") {
		return r
	}
	expect(t, raw.cmd("RCPT TO:<b@example.org>\r\n"), "250 ")
	expect(t, raw.cmd("DATA\r\n"), "354 ")
	return raw.cmd("Subject: x\r\n\r\nx\r\n.\r\n")
}

// TestFutureRelease: HOLDFOR and HOLDUNTIL (RFC 4865) are stored as
// DeliverAfter, with the recipients due then; bad values get §5's replies
// and store nothing.
func TestFutureRelease(t *testing.T) {
	for _, tt := range []struct {
		params, reply string
		hold          time.Duration // stored DeliverAfter - testNow; 0: none
	}{
		{" HOLDFOR=120", "250 ", 120 * time.Second},
		{" HOLDUNTIL=2025-06-07T08:39:10Z", "250 ", 30 * time.Minute},
		{" HOLDUNTIL=2025-06-07T11:09:10+02:00", "250 ", time.Hour},
		{" HOLDFOR=0", "250 ", 0},
		{" HOLDUNTIL=2025-06-07T08:00:00Z", "250 ", 0}, // in the past: at once
		{" HOLDFOR=3600", "250 ", time.Hour},           // the maximum
		{" HOLDFOR=3601", "554 5.3.4", 0},
		{" HOLDUNTIL=2025-06-07T09:09:11Z", "554 5.3.4", 0},
		{" HOLDFOR=abc", "501 5.5.4", 0},
		{" HOLDFOR=-5", "501 5.5.4", 0},
		{" HOLDFOR=1234567890", "501 5.5.4", 0},
		{" HOLDFOR=", "501 5.5.4", 0},
		{" HOLDUNTIL=tomorrow", "501 5.5.4", 0},
		{" HOLDFOR=10 HOLDUNTIL=2025-06-07T09:09:10Z", "501 5.5.4", 0},
		{" HOLDFOR=10 HOLDFOR=20", "501 5.5.4", 0},
	} {
		ts := startServer(t, func(o *Options) { o.MaxHold = time.Hour })
		raw, _ := dialRaw(t, ts.addr, "127.0.0.1")
		expect(t, raw.cmd("EHLO c\r\n"), "250 ")
		reply := sendRaw(t, raw, tt.params)
		if !strings.HasPrefix(reply, tt.reply) {
			t.Errorf("%s: reply %q, want %q", tt.params, reply, tt.reply)
			continue
		}
		if tt.reply != "250 " {
			if n := ts.spool.count(); n != 0 {
				t.Errorf("%s: %d messages stored", tt.params, n)
			}
			continue
		}
		m, _ := ts.spool.get(t, ts.spool.id(0))
		var want time.Time
		if tt.hold > 0 {
			want = testNow.Add(tt.hold)
		}
		if !m.DeliverAfter.Equal(want) || !m.Recipients[0].NextAttempt.Equal(m.Start()) ||
			(tt.hold > 0 && !m.Start().Equal(want)) {
			t.Errorf("%s: DeliverAfter %v, recipient due %v; want %v", tt.params, m.DeliverAfter, m.Recipients[0].NextAttempt, want)
		}
	}
}

// TestFutureReleaseOff: with MaxHold < 0 the keyword is not offered and
// a hold is refused.
func TestFutureReleaseOff(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.MaxHold = -1 })
	raw, _ := dialRaw(t, ts.addr, "127.0.0.1")
	if ehlo := ehloLines(t, raw); strings.Contains(ehlo, "FUTURERELEASE") || !strings.HasSuffix(ehlo, "250-LIMITS RCPTMAX=3\r\n250 MT-PRIORITY\r\n") {
		t.Errorf("EHLO reply:\n%s", ehlo)
	}
	expect(t, raw.cmd("MAIL FROM:<a@example.com> HOLDFOR=60\r\n"), "504 5.5.4")
}

// ehloLines sends EHLO and returns the whole reply.
func ehloLines(t *testing.T, raw *rawSession) string {
	t.Helper()
	if _, err := raw.c.Write([]byte("EHLO c\r\n")); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for {
		line, err := raw.r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(line)
		if len(line) < 4 || line[3] != '-' {
			return b.String()
		}
	}
}

// TestMTPriority: MT-PRIORITY (RFC 6710) maps onto the lanes; a trusted
// client without AUTH cannot raise its lane, an authenticated one can;
// malformed or out-of-range values are 501 5.5.4.
func TestMTPriority(t *testing.T) {
	for _, tt := range []struct {
		auth          bool
		params, reply string
		want          store.Priority
	}{
		{false, " MT-PRIORITY=5", "250 ", store.PriorityNormal},
		{false, " MT-PRIORITY=-3", "250 ", store.PriorityBulk},
		{false, " MT-PRIORITY=0", "250 ", store.PriorityNormal},
		{true, " MT-PRIORITY=+9", "250 ", store.PriorityHigh},
		{true, " MT-PRIORITY=-9", "250 ", store.PriorityBulk},
		{true, "", "250 ", store.PriorityNormal},
		{false, " MT-PRIORITY=10", "501 5.5.4", 0},
		{false, " MT-PRIORITY=-10", "501 5.5.4", 0},
		{false, " MT-PRIORITY=high", "501 5.5.4", 0},
		{false, " MT-PRIORITY=", "501 5.5.4", 0},
		{true, " MT-PRIORITY=1 MT-PRIORITY=2", "501 5.5.4", 0},
	} {
		ts, _ := startAuthServer(t, nil)
		raw, _ := dialRaw(t, ts.addr, "127.0.0.1")
		expect(t, raw.cmd("EHLO c\r\n"), "250 ")
		if tt.auth {
			cred := base64.StdEncoding.EncodeToString([]byte("\x00alice\x00s3cret-pw"))
			expect(t, raw.cmd("AUTH PLAIN "+cred+"\r\n"), "235 ")
		}
		reply := sendRaw(t, raw, tt.params)
		if !strings.HasPrefix(reply, tt.reply) {
			t.Errorf("auth %v%s: reply %q, want %q", tt.auth, tt.params, reply, tt.reply)
			continue
		}
		if tt.reply == "250 " {
			if m, _ := ts.spool.get(t, ts.spool.id(0)); m.Priority != tt.want {
				t.Errorf("auth %v%s: lane %v, want %v", tt.auth, tt.params, m.Priority, tt.want)
			}
		}
	}
}

// TestMailParamsBesideGoSMTPs: go-smtp's own MAIL parameters still work
// beside ours, and a pipelined group applies each MAIL's own parameters:
// the framer hands go-smtp nothing past a MAIL until it has handled it.
func TestMailParamsBesideGoSMTPs(t *testing.T) {
	ts := startServer(t, nil)
	raw, _ := dialRaw(t, ts.addr, "127.0.0.1")
	expect(t, raw.cmd("EHLO c\r\n"), "250 ")
	expect(t, sendRaw(t, raw, " SIZE=100 HOLDFOR=60 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=e+2Bv MT-PRIORITY=-2 AUTH=<>"), "250 ")
	m, _ := ts.spool.get(t, ts.spool.id(0))
	if m.EnvID != "e+v" || m.Ret != store.RetHdrs || !m.SMTPUTF8 || m.Priority != store.PriorityBulk ||
		!m.DeliverAfter.Equal(testNow.Add(time.Minute)) {
		t.Errorf("stored %+v", m)
	}

	group := "MAIL FROM:<a@example.com> HOLDFOR=60\r\nRSET\r\n" +
		"MAIL FROM:<a@example.com> SIZE=50 MT-PRIORITY=-1\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"
	if _, err := raw.c.Write([]byte(group)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"250 ", "250 ", "250 ", "250 ", "354 "} {
		expect(t, raw.reply(), want)
	}
	expect(t, raw.cmd("Subject: y\r\n\r\ny\r\n.\r\n"), "250 ")
	m, _ = ts.spool.get(t, ts.spool.id(1))
	if !m.DeliverAfter.IsZero() || m.Priority != store.PriorityBulk {
		t.Errorf("second message: DeliverAfter %v, lane %v; want none, bulk", m.DeliverAfter, m.Priority)
	}
}

// TestMailParamsSplitLine: a MAIL line cut across TCP segments, in the
// middle of a parameter, is read whole.
func TestMailParamsSplitLine(t *testing.T) {
	ts := startServer(t, nil)
	raw, _ := dialRaw(t, ts.addr, "127.0.0.1")
	expect(t, raw.cmd("EHLO c\r\n"), "250 ")
	for _, part := range []string{"MAIL FROM:<a@example.com> HOL", "DFOR=9", "0 MT-PRIO", "RITY=-4\r", "\n"} {
		if _, err := raw.c.Write([]byte(part)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // separate segments; not synchronisation
	}
	expect(t, raw.reply(), "250 ")
	expect(t, raw.cmd("RCPT TO:<b@example.org>\r\n"), "250 ")
	expect(t, raw.cmd("DATA\r\n"), "354 ")
	expect(t, raw.cmd("Subject: x\r\n\r\nx\r\n.\r\n"), "250 ")
	m, _ := ts.spool.get(t, ts.spool.id(0))
	if !m.DeliverAfter.Equal(testNow.Add(90*time.Second)) || m.Priority != store.PriorityBulk {
		t.Errorf("DeliverAfter %v, lane %v", m.DeliverAfter, m.Priority)
	}
}

// TestEHLOWriter: the keywords go before the last line of an EHLO reply
// however go-smtp's writes cut it, and nothing else changes.
func TestEHLOWriter(t *testing.T) {
	in := "220 x ESMTP\r\n250-Hello c\r\n250-PIPELINING\r\n250 SIZE 10\r\n250 2.0.0 Hello c\r\n250 2.0.0 OK\r\n"
	want := "220 x ESMTP\r\n250-Hello c\r\n250-PIPELINING\r\n250-SIZE 10\r\n250-K1\r\n250 K2 x\r\n250 2.0.0 Hello c\r\n250 2.0.0 OK\r\n"
	for _, cut := range []int{1, 3, 7, 16, len(in)} {
		var out strings.Builder
		w := &ehloWriter{w: &out, keywords: func() []string { return []string{"K1", "K2 x"} }}
		for s := in; s != ""; {
			n := min(cut, len(s))
			if k, err := w.Write([]byte(s[:n])); err != nil || k != n {
				t.Fatalf("Write: %d, %v", k, err)
			}
			s = s[n:]
		}
		if out.String() != want {
			t.Errorf("writes of %d:\n%q\nwant\n%q", cut, out.String(), want)
		}
	}
}

// TestKeywordsAfterSTARTTLS: the new session after STARTTLS (a new
// go-smtp reader and writer) offers the keywords too.
func TestKeywordsAfterSTARTTLS(t *testing.T) {
	ts, clientTLS := startAuthServer(t, nil)
	c := startTLSClient(t, ts.addr, "127.0.0.2", clientTLS)
	if ok, _ := c.Extension("MT-PRIORITY"); !ok {
		t.Error("MT-PRIORITY not offered after STARTTLS")
	}
	if ok, arg := c.Extension("FUTURERELEASE"); !ok || arg != "2592000 2025-07-07T08:09:10Z" {
		t.Errorf("FUTURERELEASE after STARTTLS: %v %q", ok, arg)
	}
}
