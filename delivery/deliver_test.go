package delivery

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery/smtptest"
	"github.com/outbox-mta/outbox/mxresolve"
)

func TestDeliverSuccess(t *testing.T) {
	srv := startServer(t, "127.0.0.2", smtptest.Options{})
	dl := &mapDialer{to: map[string]string{"127.0.0.2:25": srv.Addr}}
	res := newTestDeliverer(t, &fakeResolver{hosts: map[string][]Host{
		"example.test": {host("mx1.example.test", 10, "127.0.0.2")},
	}}, dl).Deliver(context.Background(), envelope("example.test", true, "a@example.test", "b@example.test"))

	want := []string{"a@example.test=delivered 250", "b@example.test=delivered 250"}
	if got := statuses(res); !slices.Equal(got, want) {
		t.Fatalf("statuses = %v, want %v", got, want)
	}
	if res.Host != "mx1.example.test[127.0.0.2]:25" || res.TLS != "none" || res.DestinationDown || res.Ambiguous {
		t.Errorf("result = %+v", res)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("server got %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.Helo != "out.test" || m.From != "sender@src.test" || !slices.Equal(m.Rcpts, []string{"a@example.test", "b@example.test"}) {
		t.Errorf("message = helo %q from %q rcpts %v", m.Helo, m.From, m.Rcpts)
	}
	if m.Opts.Size != int64(len(testBody)) {
		t.Errorf("SIZE = %d, want %d", m.Opts.Size, len(testBody))
	}
	bodyEqual(t, m.Data)
}

// TestPartialRcpt: a 250, a 450 and a 550 in one transaction, under both
// at-least-one settings.
func TestPartialRcpt(t *testing.T) {
	rcptHook := func(to string) error {
		switch {
		case strings.HasPrefix(to, "later"):
			return smtptest.Reply(450, "4.2.1", "mailbox busy")
		case strings.HasPrefix(to, "bad"):
			return smtptest.Reply(550, "5.1.1", "no such user")
		}
		return nil
	}
	tests := []struct {
		atLeastOne bool
		want       []string
		wantMsgs   int
	}{
		{true, []string{"ok@example.test=delivered 250", "later@example.test=deferred 450", "bad@example.test=bounced 550"}, 1},
		{false, []string{"ok@example.test=deferred", "later@example.test=deferred 450", "bad@example.test=bounced 550"}, 0},
	}
	for _, tt := range tests {
		name := "all-or-nothing"
		if tt.atLeastOne {
			name = "at-least-one"
		}
		t.Run(name, func(t *testing.T) {
			srv := startServer(t, "127.0.0.2", smtptest.Options{Rcpt: rcptHook})
			dl := &mapDialer{to: map[string]string{"127.0.0.2:25": srv.Addr}}
			d := newTestDeliverer(t, &fakeResolver{hosts: map[string][]Host{
				"example.test": {host("mx1.example.test", 10, "127.0.0.2")},
			}}, dl)
			res := d.Deliver(context.Background(), envelope("example.test", tt.atLeastOne, "ok@example.test", "later@example.test", "bad@example.test"))
			if got := statuses(res); !slices.Equal(got, tt.want) {
				t.Fatalf("statuses = %v, want %v", got, tt.want)
			}
			if r := res.Rcpts[2].Reply; r.Enhanced != "5.1.1" || r.Text != "no such user" {
				t.Errorf("550 reply = %+v", r)
			}
			if r := res.Rcpts[1].Reply; r.Enhanced != "4.2.1" {
				t.Errorf("450 reply = %+v", r)
			}
			msgs := srv.Messages()
			if len(msgs) != tt.wantMsgs {
				t.Fatalf("server got %d messages, want %d", len(msgs), tt.wantMsgs)
			}
			if tt.wantMsgs == 1 && !slices.Equal(msgs[0].Rcpts, []string{"ok@example.test"}) {
				t.Errorf("DATA went to %v", msgs[0].Rcpts)
			}
			// The session survives the RSET and is pooled either way.
			waitFor(t, "pooled session", func() bool { return d.pool.idleLen("direct:example.test") == 1 })
		})
	}
}

func TestHostFailover(t *testing.T) {
	tests := []struct {
		name  string
		first func(t *testing.T) string // address the first host's 127.0.0.3:25 maps to
	}{
		{"421 greeting", func(t *testing.T) string {
			return startServer(t, "127.0.0.3", smtptest.Options{Greeting: "421 4.3.2 too busy"}).Addr
		}},
		{"450 greeting", func(t *testing.T) string {
			return startServer(t, "127.0.0.3", smtptest.Options{Greeting: "450 try later"}).Addr
		}},
		{"554 greeting", func(t *testing.T) string {
			return startServer(t, "127.0.0.3", smtptest.Options{Greeting: "554 5.3.2 no service"}).Addr
		}},
		{"connect refused", func(t *testing.T) string { return closedAddr(t, "127.0.0.3") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			good := startServer(t, "127.0.0.2", smtptest.Options{})
			dl := &mapDialer{to: map[string]string{"127.0.0.3:25": tt.first(t), "127.0.0.2:25": good.Addr}}
			d := newTestDeliverer(t, &fakeResolver{hosts: map[string][]Host{
				"example.test": {host("mx1.example.test", 10, "127.0.0.3"), host("mx2.example.test", 20, "127.0.0.2")},
			}}, dl)
			res := d.Deliver(context.Background(), envelope("example.test", true, "a@example.test"))
			if got := statuses(res); !slices.Equal(got, []string{"a@example.test=delivered 250"}) {
				t.Fatalf("statuses = %v", got)
			}
			if res.Host != "mx2.example.test[127.0.0.2]:25" || res.DestinationDown {
				t.Errorf("result = %+v", res)
			}
			if len(good.Messages()) != 1 {
				t.Errorf("second host got %d messages", len(good.Messages()))
			}
		})
	}
}

// TestAddressFailover: a host's addresses are tried in order, IPv6 first
// when listed first.
func TestAddressFailover(t *testing.T) {
	good := startServer(t, "127.0.0.2", smtptest.Options{})
	dl := &mapDialer{to: map[string]string{"[::1]:25": closedAddr(t, "::1"), "127.0.0.2:25": good.Addr}}
	d := newTestDeliverer(t, &fakeResolver{hosts: map[string][]Host{
		"example.test": {host("mx1.example.test", 10, "::1", "127.0.0.2")},
	}}, dl)
	res := d.Deliver(context.Background(), envelope("example.test", true, "a@example.test"))
	if res.Rcpts[0].Status != Delivered || res.Host != "mx1.example.test[127.0.0.2]:25" {
		t.Fatalf("result = %+v", res)
	}
	if !slices.Equal(dl.dials, []string{"[::1]:25", "127.0.0.2:25"}) {
		t.Errorf("dials = %v", dl.dials)
	}
}

func TestDestinationDown(t *testing.T) {
	busy := startServer(t, "127.0.0.3", smtptest.Options{Greeting: "421 4.3.2 too busy"})
	dl := &mapDialer{to: map[string]string{"127.0.0.2:25": closedAddr(t, "127.0.0.2"), "127.0.0.3:25": busy.Addr}}
	d := newTestDeliverer(t, &fakeResolver{hosts: map[string][]Host{
		"example.test": {host("mx1.example.test", 10, "127.0.0.2"), host("mx2.example.test", 20, "127.0.0.3")},
	}}, dl)
	res := d.Deliver(context.Background(), envelope("example.test", true, "a@example.test", "b@example.test"))
	if !res.DestinationDown || res.Ambiguous {
		t.Errorf("DestinationDown = %v, Ambiguous = %v", res.DestinationDown, res.Ambiguous)
	}
	for _, r := range res.Rcpts {
		if r.Status != Deferred || r.Reply.Code != 421 {
			t.Errorf("%s: %v %v, want deferred with the last host's 421", r.Rcpt, r.Status, r.Reply)
		}
	}
	if res.Host != "mx2.example.test[127.0.0.3]:25" {
		t.Errorf("Host = %q", res.Host)
	}
}

func TestLookupFailures(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		status   Status
		enhanced string
	}{
		{"NXDOMAIN", &mxresolve.Error{Domain: "example.test", Kind: mxresolve.ErrNXDomain, Permanent: true, Enhanced: "5.1.2", Msg: "domain does not exist"}, Bounced, "5.1.2"},
		{"null MX", &mxresolve.Error{Domain: "example.test", Kind: mxresolve.ErrNullMX, Permanent: true, Enhanced: "5.1.10", Msg: "domain accepts no mail"}, Bounced, "5.1.10"},
		{"SERVFAIL", fmt.Errorf("wrapped: %w", &mxresolve.Error{Domain: "example.test", Kind: mxresolve.ErrTemporary, Enhanced: "4.4.3", Msg: "SERVFAIL"}), Deferred, "4.4.3"},
		{"unclassified", context.DeadlineExceeded, Deferred, "4.4.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dl := &mapDialer{}
			d := newTestDeliverer(t, &fakeResolver{errs: map[string]error{"example.test": tt.err}}, dl)
			res := d.Deliver(context.Background(), envelope("example.test", true, "a@example.test", "b@example.test"))
			for _, r := range res.Rcpts {
				// Code 0: no server replied, whatever the outcome.
				if r.Status != tt.status || r.Reply.Enhanced != tt.enhanced || r.Reply.Code != 0 {
					t.Errorf("%s: %v %+v, want %v %s", r.Rcpt, r.Status, r.Reply, tt.status, tt.enhanced)
				}
			}
			if dl.count() != 0 {
				t.Errorf("%d connections attempted, want none", dl.count())
			}
			if res.DestinationDown {
				t.Error("DestinationDown set for a DNS failure")
			}
		})
	}
}

func TestMailRejected(t *testing.T) {
	tests := []struct {
		code   int
		status Status
	}{
		{451, Deferred},
		{553, Bounced},
	}
	for _, tt := range tests {
		t.Run(itoa3(tt.code), func(t *testing.T) {
			srv := startServer(t, "127.0.0.2", smtptest.Options{Mail: func(string) error {
				return smtptest.Reply(tt.code, "", "sender refused")
			}})
			dl := &mapDialer{to: map[string]string{"127.0.0.2:25": srv.Addr}}
			d := newTestDeliverer(t, &fakeResolver{hosts: map[string][]Host{"example.test": {host("mx1.example.test", 10, "127.0.0.2")}}}, dl)
			res := d.Deliver(context.Background(), envelope("example.test", true, "a@example.test", "b@example.test"))
			for _, r := range res.Rcpts {
				if r.Status != tt.status || r.Reply.Code != tt.code {
					t.Errorf("%s: %v %v", r.Rcpt, r.Status, r.Reply)
				}
			}
		})
	}
}

func TestDataReply(t *testing.T) {
	tests := []struct {
		name      string
		hook      func(*smtptest.Message) error
		status    Status
		code      int
		ambiguous bool
	}{
		{"452 after dot", func(*smtptest.Message) error { return smtptest.Reply(452, "4.3.1", "disk full") }, Deferred, 452, false},
		{"554 after dot", func(*smtptest.Message) error { return smtptest.Reply(554, "5.7.1", "spam") }, Bounced, 554, false},
		{"dropped after dot", func(*smtptest.Message) error { return smtptest.ErrDrop }, Deferred, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, "127.0.0.2", smtptest.Options{Data: tt.hook})
			dl := &mapDialer{to: map[string]string{"127.0.0.2:25": srv.Addr}}
			d := newTestDeliverer(t, &fakeResolver{hosts: map[string][]Host{"example.test": {host("mx1.example.test", 10, "127.0.0.2")}}}, dl)
			res := d.Deliver(context.Background(), envelope("example.test", true, "a@example.test", "b@example.test"))
			for _, r := range res.Rcpts {
				if r.Status != tt.status || r.Reply.Code != tt.code {
					t.Errorf("%s: %v %v", r.Rcpt, r.Status, r.Reply)
				}
			}
			if res.Ambiguous != tt.ambiguous {
				t.Errorf("Ambiguous = %v, want %v", res.Ambiguous, tt.ambiguous)
			}
		})
	}
}

func TestDropAfterRcpt(t *testing.T) {
	srv := startServer(t, "127.0.0.2", smtptest.Options{Rcpt: func(to string) error {
		switch {
		case strings.HasPrefix(to, "bad"):
			return smtptest.Reply(550, "5.1.1", "no such user")
		case strings.HasPrefix(to, "drop"):
			return smtptest.ErrDrop
		}
		return nil
	}})
	dl := &mapDialer{to: map[string]string{"127.0.0.2:25": srv.Addr}}
	d := newTestDeliverer(t, &fakeResolver{hosts: map[string][]Host{"example.test": {host("mx1.example.test", 10, "127.0.0.2")}}}, dl)
	res := d.Deliver(context.Background(), envelope("example.test", true, "ok@example.test", "bad@example.test", "drop@example.test", "never@example.test"))
	want := []string{"ok@example.test=deferred", "bad@example.test=bounced 550", "drop@example.test=deferred", "never@example.test=deferred"}
	if got := statuses(res); !slices.Equal(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
	if res.Ambiguous || len(srv.Messages()) != 0 {
		t.Errorf("Ambiguous = %v, messages = %d", res.Ambiguous, len(srv.Messages()))
	}
}

func TestSMTPUTF8(t *testing.T) {
	for _, offered := range []bool{false, true} {
		srv := startServer(t, "127.0.0.2", smtptest.Options{SMTPUTF8: offered})
		dl := &mapDialer{to: map[string]string{"127.0.0.2:25": srv.Addr}}
		d := newTestDeliverer(t, &fakeResolver{hosts: map[string][]Host{"example.test": {host("mx1.example.test", 10, "127.0.0.2")}}}, dl)
		res := d.Deliver(context.Background(), envelope("example.test", true, "josé@example.test"))
		r := res.Rcpts[0]
		switch {
		case !offered && (r.Status != Bounced || r.Reply.Enhanced != "5.6.7"):
			t.Errorf("SMTPUTF8 not offered: %v %v, want bounced 5.6.7", r.Status, r.Reply)
		case offered && (r.Status != Delivered || len(srv.Messages()) != 1 || !srv.Messages()[0].Opts.UTF8):
			t.Errorf("SMTPUTF8 offered: %v %v", r.Status, r.Reply)
		}
	}
}

func TestSizeLimit(t *testing.T) {
	srv := startServer(t, "127.0.0.2", smtptest.Options{MaxMessageBytes: 10})
	dl := &mapDialer{to: map[string]string{"127.0.0.2:25": srv.Addr}}
	d := newTestDeliverer(t, &fakeResolver{hosts: map[string][]Host{"example.test": {host("mx1.example.test", 10, "127.0.0.2")}}}, dl)
	res := d.Deliver(context.Background(), envelope("example.test", true, "a@example.test"))
	if r := res.Rcpts[0]; r.Status != Bounced || r.Reply.Enhanced != "5.3.4" {
		t.Errorf("%v %v, want bounced 5.3.4", r.Status, r.Reply)
	}
}

func TestSilentServerTimesOut(t *testing.T) {
	srv := startServer(t, "127.0.0.2", smtptest.Options{Silent: true})
	dl := &mapDialer{to: map[string]string{"127.0.0.2:25": srv.Addr}}
	d := newTestDeliverer(t, &fakeResolver{hosts: map[string][]Host{"example.test": {host("mx1.example.test", 10, "127.0.0.2")}}}, dl,
		func(o *Options) { o.Timeouts.Greeting = 150 * time.Millisecond })
	start := time.Now()
	res := d.Deliver(context.Background(), envelope("example.test", true, "a@example.test"))
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %v with a 150ms greeting timeout", took)
	}
	if r := res.Rcpts[0]; r.Status != Deferred || !strings.Contains(r.Reply.Text, "timeout") || !res.DestinationDown {
		t.Errorf("%v %v down=%v", r.Status, r.Reply, res.DestinationDown)
	}
}

func TestCancelAbortsPromptly(t *testing.T) {
	srv := startServer(t, "127.0.0.2", smtptest.Options{Silent: true})
	dl := &mapDialer{to: map[string]string{"127.0.0.2:25": srv.Addr}}
	d := newTestDeliverer(t, &fakeResolver{hosts: map[string][]Host{"example.test": {host("mx1.example.test", 10, "127.0.0.2")}}}, dl,
		func(o *Options) { o.Timeouts.Greeting = time.Minute })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	res := d.Deliver(ctx, envelope("example.test", true, "a@example.test"))
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %v after a 100ms context", took)
	}
	if r := res.Rcpts[0]; r.Status != Deferred || res.DestinationDown {
		t.Errorf("%v %v down=%v, want deferred, destination not marked down", r.Status, r.Reply, res.DestinationDown)
	}
}
