package dkim_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/delivery/dkim"
	"github.com/outbox-mta/outbox/delivery/smtptest"
	"github.com/outbox-mta/outbox/queue/submission"
	"github.com/outbox-mta/outbox/store"
)

// signer adapts Holder to the listener, as cmd/outbox does.
type signer struct{ h *dkim.Holder }

func (s signer) Sign(from string, fields []string) (submission.Signing, error) {
	sig, err := s.h.Sign(from, fields)
	if sig == nil || err != nil {
		return nil, err
	}
	return sig, nil
}

// TestDeliveredMessageVerifies runs the real path: submission listener
// (signing while it spools) → store → delivery → an SMTP server; the
// received copy verifies with go-msgauth against the published keys, for
// RSA and Ed25519, and mail from a domain without a key arrives unsigned.
func TestDeliveredMessageVerifies(t *testing.T) {
	keys, sel := newKeys(t, "example.com")
	var h dkim.Holder
	h.Store(keys)

	db, l := startSigningListener(t, &h)
	mx, del := relayToMX(t)

	big := strings.Repeat("Zeile mit Umlauten: äöü ß — 8-bit\r\n", 200) // a file body
	tests := []struct {
		name, from, msg string
		signed          bool
	}{
		{"simple", "a@example.com", "From: a@example.com\r\nTo: r@example.net\r\nSubject: hi\r\n\r\nhello\r\n", true},
		{"long header, 8-bit, file body", "a@example.com", "From: A <a@example.com>\r\nSubject: " +
			strings.Repeat("long ", 300) + "\r\nTo: r@example.net,\r\n\tq@example.net\r\n\r\n" + big, true},
		{"no trailing CRLF", "a@example.com", "From: a@example.com\r\n\r\nno final line end", true},
		{"no key", "a@other.org", "From: a@other.org\r\nSubject: x\r\n\r\nhi\r\n", false},
	}
	lookup := dnsFor(t, "example.com", sel)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := smtp.Dial(l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.SendMail(tt.from, []string{"r@example.net"}, strings.NewReader(tt.msg)); err != nil {
				t.Fatal(err)
			}
			ms, err := db.List(context.Background(), store.Filter{})
			if err != nil || len(ms) == 0 {
				t.Fatalf("List: %v, %d", err, len(ms))
			}
			m := ms[len(ms)-1]
			n := len(mx.Messages())
			res := del.Deliver(context.Background(), &delivery.Envelope{MsgID: m.ID, From: m.From, Domain: "example.net",
				Rcpts: []string{"r@example.net"}, Size: m.Size,
				Body: func() (io.ReadCloser, error) { return db.OpenBody(context.Background(), m.ID) }})
			if res.Rcpts[0].Status != delivery.Delivered || len(mx.Messages()) != n+1 {
				t.Fatalf("not delivered: %+v", res.Rcpts[0])
			}
			data := string(mx.Messages()[n].Data)
			if !tt.signed {
				if strings.Contains(data, "DKIM-Signature") || m.Signed != nil {
					t.Errorf("unsigned expected, got %q", m.Signed)
				}
				return
			}
			if got := verify(t, data, lookup); len(got) != 2 {
				t.Errorf("%d valid signatures, want 2 (RSA and Ed25519)", len(got))
			}
			if len(m.Signed) != 2 {
				t.Errorf("store.Message.Signed = %q", m.Signed)
			}
		})
	}
}

// startSigningListener starts a submission listener that signs through h
// and spools to a store in a temporary directory.
func startSigningListener(t *testing.T, h *dkim.Holder) (*store.DB, net.Listener) {
	t.Helper()
	db, err := store.Open(t.TempDir(), store.Options{Logger: slog.New(slog.DiscardHandler), InlineMax: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	srv, err := submission.New(submission.Options{
		Hostname: "outbox.test",
		Trusted:  []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		Spool:    db,
		Signer:   signer{h},
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, submission.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return db, l
}

// relayToMX starts an SMTP server and a Deliverer that relays everything
// to it in plain text.
func relayToMX(t *testing.T) (*smtptest.Server, *delivery.Deliverer) {
	t.Helper()
	mx := smtptest.Start(t, smtptest.Options{})
	host, port, _ := net.SplitHostPort(mx.Addr)
	p, _ := strconv.Atoi(port)
	del := delivery.New(delivery.Options{
		Hostname: "outbox.test",
		Routes:   map[string]string{"*": "mx"},
		Relays:   map[string][]delivery.RelayServer{"mx": {{Host: host, Port: p, TLSMode: delivery.TLSModeNone, TLSPolicy: delivery.TLSNone}}},
		Logger:   slog.New(slog.DiscardHandler),
	})
	t.Cleanup(func() { del.Shutdown(context.Background()) })
	return mx, del
}
