package submission

import (
	"io"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/outbox-mta/outbox/store"
)

// sendOpts is send with MAIL options.
func sendOpts(c *smtp.Client, opts *smtp.MailOptions, msg string) error {
	if err := c.Mail("a@example.com", opts); err != nil {
		return err
	}
	if err := c.Rcpt("b@example.net", nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return err
	}
	return w.Close()
}

const tlsTestMsg = "From: a@example.com\r\nTo: b@example.net\r\nSubject: t\r\n\r\nhi\r\n"

func TestRequireTLSOverTLS(t *testing.T) {
	serverTLS, clientTLS := selfSigned(t)
	ts := startServer(t, func(o *Options) { o.TLSConfig = serverTLS })
	c := startTLSClient(t, ts.addr, "127.0.0.1", clientTLS)
	if ok, _ := c.Extension("REQUIRETLS"); !ok {
		t.Fatal("REQUIRETLS not advertised over TLS")
	}
	if err := sendOpts(c, &smtp.MailOptions{RequireTLS: true}, tlsTestMsg); err != nil {
		t.Fatal(err)
	}
	if err := sendOpts(c, nil, "TLS-Required: No\r\n"+tlsTestMsg); err != nil {
		t.Fatal(err)
	}
	// REQUIRETLS wins over the header field (RFC 8689 §4.1).
	if err := sendOpts(c, &smtp.MailOptions{RequireTLS: true}, "TLS-Required: no\r\n"+tlsTestMsg); err != nil {
		t.Fatal(err)
	}
	if err := sendOpts(c, nil, tlsTestMsg); err != nil {
		t.Fatal(err)
	}
	want := []store.TLSReq{store.TLSReqRequire, store.TLSReqOptional, store.TLSReqRequire, store.TLSReqNone}
	for i, w := range want {
		m, _ := ts.spool.get(t, ts.spool.id(i))
		if m.TLSReq != w {
			t.Errorf("message %d: TLSReq %v, want %v", i, m.TLSReq, w)
		}
	}
}

// RFC 8689 §4.1: REQUIRETLS only on a TLS session.
func TestRequireTLSRefusedInPlainText(t *testing.T) {
	serverTLS, _ := selfSigned(t)
	ts := startServer(t, func(o *Options) { o.TLSConfig = serverTLS })
	if ok, _ := client(t, ts.addr, "127.0.0.1").Extension("REQUIRETLS"); ok {
		t.Fatal("REQUIRETLS advertised in plain text")
	}
	r := newRaw(t, dial(t, ts.addr, "127.0.0.1"))
	r.reply()
	r.cmd("EHLO client.test\r\n")
	expect(t, r.cmd("MAIL FROM:<a@example.com> REQUIRETLS\r\n"), "530 5.7.10")
	expect(t, r.cmd("MAIL FROM:<a@example.com>\r\n"), "250")
	if ts.spool.count() != 0 {
		t.Fatal("a message was spooled")
	}
}
