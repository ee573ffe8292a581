package submission

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/outbox-mta/outbox/store"
)

func TestAcceptStoresMessageWithHeaders(t *testing.T) {
	ts := startServer(t, nil)
	c := client(t, ts.addr, "127.0.0.1")
	const msg = "From: app@example.com\r\nSubject: hello\r\n\r\nline one\r\n.dot line\r\n"
	reply, err := send(c, "app@example.com", []string{"rcpt@example.org"}, msg)
	if err != nil {
		t.Fatal(err)
	}
	id := ts.spool.id(0)
	if reply != "2.0.0 Ok: queued as "+id {
		t.Errorf("DATA reply %q, stored as %q", reply, id)
	}
	m, body := ts.spool.get(t, ts.spool.id(0))
	if m == nil {
		t.Fatal("nothing stored")
	}
	if m.From != "app@example.com" || len(m.Recipients) != 1 || m.Recipients[0].Addr != "rcpt@example.org" ||
		m.Recipients[0].State != store.StateQueued || m.User != "" || !m.Received.Equal(testNow) ||
		!strings.HasPrefix(m.Client, "127.0.0.1:") || m.AtLeastOne != nil || m.Size != int64(len(body)) {
		t.Errorf("stored envelope %+v", m)
	}
	wantHead := "Received: from client.test ([127.0.0.1])\r\n\tby outbox.test (Outbox) with ESMTP id " + id + "\r\n" +
		"\tfor <rcpt@example.org>;\r\n\tSat, 07 Jun 2025 08:09:10 +0000\r\n" +
		"From: app@example.com\r\nSubject: hello\r\n" +
		"Date: Sat, 07 Jun 2025 08:09:10 +0000\r\nMessage-ID: <" + id + "@outbox.test>\r\n" +
		"\r\nline one\r\n.dot line\r\n"
	if body != wantHead {
		t.Errorf("stored body\n%q\nwant\n%q", body, wantHead)
	}
	if logs := ts.logs.String(); !strings.Contains(logs, "msg=accepted") || !strings.Contains(logs, "msgid="+id) ||
		!strings.Contains(logs, "component=submission") || !strings.Contains(logs, "rcpts=[rcpt@example.org]") ||
		!strings.Contains(logs, "message_id=<"+id+"@outbox.test>") {
		t.Errorf("no acceptance log line in:\n%s", logs)
	}
}

func TestAcceptVariants(t *testing.T) {
	no := false
	tests := []struct {
		name     string
		from     string
		to       []string
		msg      string
		utf8     bool
		check    func(t *testing.T, m *store.Message, body string)
		notInLog string
	}{
		{name: "keeps Date and Message-ID, strips at-least-one", from: "a@example.com",
			to:  []string{"x@example.org", "y@example.org"},
			msg: "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-Id: <mine@app>\r\nX-Outbox-At-Least-One: no\r\n\r\nbody\r\n",
			check: func(t *testing.T, m *store.Message, body string) {
				if m.AtLeastOne == nil || *m.AtLeastOne != no {
					t.Errorf("AtLeastOne = %v, want false", m.AtLeastOne)
				}
				if strings.Count(body, "Date:") != 1 || strings.Count(body, "Message-I") != 1 ||
					strings.Contains(body, "At-Least-One") || strings.Contains(body, "\tfor <") {
					t.Errorf("body %q", body)
				}
			}},
		{name: "null sender", from: "", to: []string{"x@example.org"}, msg: "Subject: bounce\r\n\r\nb\r\n",
			check: func(t *testing.T, m *store.Message, body string) {
				if m.From != "" {
					t.Errorf("From = %q", m.From)
				}
			}},
		{name: "SMTPUTF8", from: "josé@exämple.com", to: []string{"用户@例子.广告"}, utf8: true,
			msg: "Subject: =?utf-8?q?ol=C3=A9?=\r\n\r\nolé\r\n",
			check: func(t *testing.T, m *store.Message, body string) {
				if m.From != "josé@exämple.com" || m.Recipients[0].Addr != "用户@例子.广告" || !strings.HasSuffix(body, "olé\r\n") {
					t.Errorf("stored %+v %q", m, body)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, nil)
			c := client(t, ts.addr, "127.0.0.1")
			if err := c.Mail(tt.from, &smtp.MailOptions{UTF8: tt.utf8}); err != nil {
				t.Fatal(err)
			}
			for _, r := range tt.to {
				if err := c.Rcpt(r, nil); err != nil {
					t.Fatal(err)
				}
			}
			w, err := c.Data()
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprint(w, tt.msg)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			m, body := ts.spool.get(t, ts.spool.id(0))
			if m == nil {
				t.Fatal("not stored")
			}
			tt.check(t, m, body)
		})
	}
}

func TestNo250BeforeCommit(t *testing.T) {
	tests := []struct {
		name       string
		newBodyErr error
		enqueueErr error
		code       int
		enh        string
	}{
		{"enqueue fails", nil, errors.New("bbolt: fsync: input/output error"), 451, "4.3.0"},
		{"new body fails", errors.New("open: permission denied"), nil, 451, "4.3.0"},
		{"disk full", nil, fmt.Errorf("commit: %w: %w", store.ErrNoSpace, syscall.ENOSPC), 452, "4.3.1"},
		{"store too big", nil, fmt.Errorf("write: %w", store.ErrTooBig), 552, "5.3.4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, nil)
			ts.spool.newBodyErr, ts.spool.enqueueErr = tt.newBodyErr, tt.enqueueErr
			c := client(t, ts.addr, "127.0.0.1")
			_, err := send(c, "a@example.com", []string{"b@example.org"}, "Subject: x\r\n\r\nx\r\n")
			if c, e := code(t, err); c != tt.code || e != tt.enh {
				t.Errorf("reply %d %s, want %d %s", c, e, tt.code, tt.enh)
			}
			if strings.Contains(err.Error(), "bbolt") || strings.Contains(err.Error(), "permission") {
				t.Errorf("internal error text reached the client: %v", err)
			}
			if n := ts.spool.count(); n != 0 {
				t.Errorf("%d messages stored", n)
			}
			if n := ts.spool.bodyFiles(t); n != 0 {
				t.Errorf("%d body files left behind: the uncommitted body was not discarded", n)
			}
			// The session goes on after a failed transaction.
			ts.spool.mu.Lock()
			ts.spool.newBodyErr, ts.spool.enqueueErr = nil, nil
			ts.spool.mu.Unlock()
			if _, err := send(c, "a@example.com", []string{"b@example.org"}, "Subject: x\r\n\r\nx\r\n"); err != nil {
				t.Fatalf("retry: %v", err)
			}
		})
	}
}

func TestReplyWaitsForEnqueue(t *testing.T) {
	ts := startServer(t, nil)
	ts.spool.block = make(chan struct{})
	raw := newRaw(t, dial(t, ts.addr, "127.0.0.1"))
	expect(t, raw.reply(), "220 ")
	expect(t, raw.cmd("EHLO c\r\n"), "250 ")
	expect(t, raw.cmd("MAIL FROM:<a@example.com>\r\n"), "250 ")
	expect(t, raw.cmd("RCPT TO:<b@example.org>\r\n"), "250 ")
	expect(t, raw.cmd("DATA\r\n"), "354 ")
	if _, err := raw.c.Write([]byte("Subject: x\r\n\r\nx\r\n.\r\n")); err != nil {
		t.Fatal(err)
	}
	// Enqueue is blocked: the reply must not come. A short read deadline is
	// how "no reply yet" is observed.
	_ = raw.c.SetReadDeadline(timeNowPlus(100))
	if line, err := raw.r.ReadString('\n'); err == nil {
		t.Fatalf("got %q before the commit", line)
	}
	_ = raw.c.SetReadDeadline(timeNowPlus(5000))
	close(ts.spool.block)
	reply := raw.reply()
	expect(t, reply, "250 2.0.0 Ok: queued as "+ts.spool.id(0))
}

func TestRelayRefusedWithoutAuth(t *testing.T) {
	users, err := NewUsers(map[string]string{"alice": mustHash(t, "secret")})
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, func(o *Options) { o.Auth = users })

	// From an untrusted address, without TLS: no AUTH offered, MAIL refused.
	remote := client(t, ts.addr, "127.0.0.2")
	if ok, _ := remote.Extension("AUTH"); ok {
		t.Error("AUTH advertised over plaintext to an untrusted client")
	}
	if ok, _ := remote.Extension("STARTTLS"); ok {
		t.Error("STARTTLS advertised without a TLS config")
	}
	err = remote.Mail("a@example.com", nil)
	if c, e := code(t, err); c != 530 || e != "5.7.0" {
		t.Errorf("MAIL from untrusted: %d %s, want 530 5.7.0", c, e)
	}
	raw := newRaw(t, dial(t, ts.addr, "127.0.0.2"))
	raw.reply()
	raw.cmd("EHLO c\r\n")
	expect(t, raw.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"), "538 5.7.11")
	expect(t, raw.cmd("MAIL FROM:<a@example.com>\r\n"), "530 5.7.0")
	if ts.spool.count() != 0 {
		t.Error("message stored")
	}

	// From the trusted network AUTH is offered even without TLS.
	local := client(t, ts.addr, "127.0.0.1")
	if ok, mechs := local.Extension("AUTH"); !ok || mechs != "PLAIN LOGIN" {
		t.Errorf("AUTH to trusted client: %v %q", ok, mechs)
	}
	if !strings.Contains(ts.logs.String(), "reason=\"Authentication required\"") {
		t.Errorf("rejection not logged:\n%s", ts.logs)
	}
}
