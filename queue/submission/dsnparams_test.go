package submission

import (
	"strings"
	"testing"

	"github.com/outbox-mta/outbox/store"
)

// The listener offers DSN (RFC 3461) and keeps RET, ENVID, NOTIFY and ORCPT
// in the spooled record; a duplicate recipient (the same address, or its
// domain in another case) gets 250 and adds nothing, the first spelling
// kept.
func TestDSNParametersAndDuplicates(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.MaxRecipients = 10 })
	s := newRaw(t, dial(t, ts.addr, "127.0.0.1"))
	expect(t, s.reply(), "220")
	if _, err := s.c.Write([]byte("EHLO client.test\r\n")); err != nil {
		t.Fatal(err)
	}
	var ehlo []string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		ehlo = append(ehlo, strings.TrimSpace(line[4:]))
		if line[3] != '-' {
			break
		}
	}
	if !strings.Contains(strings.Join(ehlo, "\n"), "\nDSN") {
		t.Errorf("EHLO does not offer DSN: %q", ehlo)
	}
	expect(t, s.cmd("MAIL FROM:<a@src.test> RET=HDRS ENVID=QQ+2B42\r\n"), "250")
	expect(t, s.cmd("RCPT TO:<Bob@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Bob+40Example.test\r\n"), "250")
	expect(t, s.cmd("RCPT TO:<Bob@EXAMPLE.test> NOTIFY=NEVER\r\n"), "250")
	expect(t, s.cmd("RCPT TO:<Bob@example.test>\r\n"), "250")
	expect(t, s.cmd("RCPT TO:<bob@example.test> NOTIFY=NEVER\r\n"), "250")
	expect(t, s.cmd("RCPT TO:<c@example.test>\r\n"), "250")
	expect(t, s.cmd("DATA\r\n"), "354")
	reply := s.cmd("Subject: x\r\n\r\nhi\r\n.\r\n")
	expect(t, reply, "250")
	id := reply[strings.LastIndexByte(reply, ' ')+1:]
	m, _ := ts.spool.get(t, id)
	if m == nil {
		t.Fatalf("message %q not spooled", id)
	}
	if m.EnvID != "QQ+42" || m.Ret != store.RetHdrs {
		t.Errorf("EnvID %q Ret %v, want QQ+42, RetHdrs", m.EnvID, m.Ret)
	}
	want := []store.Recipient{
		{Addr: "Bob@example.test", Notify: store.NotifySuccess | store.NotifyFailure, ORcpt: "rfc822;Bob@Example.test"},
		{Addr: "bob@example.test", Notify: store.NotifyNever}, // the local part is case-sensitive
		{Addr: "c@example.test"},
	}
	if len(m.Recipients) != len(want) {
		t.Fatalf("recipients %+v, want %d", m.Recipients, len(want))
	}
	for i, w := range want {
		r := m.Recipients[i]
		if r.Addr != w.Addr || r.Notify != w.Notify || r.ORcpt != w.ORcpt {
			t.Errorf("recipient %d = %q notify %v orcpt %q, want %q %v %q", i, r.Addr, r.Notify, r.ORcpt, w.Addr, w.Notify, w.ORcpt)
		}
	}
}

func TestSameRecipient(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"a@x.test", "a@x.test", true},
		{"a@x.test", "a@X.TEST", true},
		{"A@x.test", "a@x.test", false},
		{"a@x.test", "a@y.test", false},
		{"\"a@b\"@x.test", "\"a@b\"@X.test", true},
	} {
		if got := sameRecipient(tt.a, tt.b); got != tt.want {
			t.Errorf("sameRecipient(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
