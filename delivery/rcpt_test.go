package delivery

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/outbox-mta/outbox/delivery/smtptest"
)

// manyRcpts returns n recipients of example.test.
func manyRcpts(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("r%03d@example.test", i)
	}
	return out
}

func oneMX(t *testing.T, srv *smtptest.Server, edits ...func(*Options)) *Deliverer {
	t.Helper()
	dl := &mapDialer{to: map[string]string{"127.0.0.2:25": srv.Addr}}
	return newTestDeliverer(t, &fakeResolver{hosts: map[string][]Host{"example.test": {host("mx1.example.test", 10, "127.0.0.2")}}}, dl, edits...)
}

func countStatus(res *Result, st Status) int {
	n := 0
	for _, r := range res.Rcpts {
		if r.Status == st {
			n++
		}
	}
	return n
}

// A server that takes 50 recipients per transaction and says 452 4.5.3 to
// the 51st gets the rest in further transactions of the same session, at
// once: all 150 delivered, none deferred to the back-off.
func TestServerRecipientLimitSendsTheRestAtOnce(t *testing.T) {
	srv := startServer(t, "127.0.0.2", smtptest.Options{MaxRecipients: 50})
	d := oneMX(t, srv, func(o *Options) { o.MaxRcptsPerTx = 1000 }) // the server's limit decides here
	rcpts := manyRcpts(150)
	res := d.Deliver(context.Background(), envelope("example.test", true, rcpts...))
	if n := countStatus(res, Delivered); n != 150 {
		t.Fatalf("delivered %d of 150; first: %+v, last: %+v", n, res.Rcpts[0], res.Rcpts[149])
	}
	msgs := srv.Messages()
	if len(msgs) != 3 || srv.Connections() != 1 {
		t.Fatalf("%d transactions on %d connections, want 3 on 1", len(msgs), srv.Connections())
	}
	var got []string
	for _, m := range msgs {
		if len(m.Rcpts) != 50 {
			t.Errorf("transaction with %d recipients, want 50", len(m.Rcpts))
		}
		got = append(got, m.Rcpts...)
	}
	if strings.Join(got, ",") != strings.Join(rcpts, ",") {
		t.Error("recipients not each sent once, in order")
	}
}

// Without any limit at the server, MaxRcptsPerTx caps each transaction.
func TestMaxRcptsPerTx(t *testing.T) {
	srv := startServer(t, "127.0.0.2", smtptest.Options{})
	d := oneMX(t, srv)
	res := d.Deliver(context.Background(), envelope("example.test", true, manyRcpts(120)...))
	if n := countStatus(res, Delivered); n != 120 {
		t.Fatalf("delivered %d of 120", n)
	}
	var sizes []int
	for _, m := range srv.Messages() {
		sizes = append(sizes, len(m.Rcpts))
	}
	if fmt.Sprint(sizes) != "[50 50 20]" || srv.Connections() != 1 {
		t.Errorf("transactions %v on %d connections, want [50 50 20] on 1", sizes, srv.Connections())
	}
}

// When the session breaks (421 to DATA) after the server's limit was
// reached, the recipients not yet tried go on a new session at once.
func TestRecipientLimitThenBrokenSession(t *testing.T) {
	var datas atomic.Int32
	srv := startServer(t, "127.0.0.2", smtptest.Options{MaxRecipients: 2, Data: func(*smtptest.Message) error {
		if datas.Add(1) == 1 {
			return smtptest.Reply(421, "4.3.2", "closing")
		}
		return nil
	}})
	d := oneMX(t, srv)
	res := d.Deliver(context.Background(), envelope("example.test", true, manyRcpts(4)...))
	want := []Status{Deferred, Deferred, Delivered, Delivered}
	for i, r := range res.Rcpts {
		if r.Status != want[i] {
			t.Errorf("%s: %v %v, want %v", r.Rcpt, r.Status, r.Reply, want[i])
		}
	}
	if srv.Connections() != 2 || res.DestinationDown {
		t.Errorf("connections = %d, down = %v; want 2, false", srv.Connections(), res.DestinationDown)
	}
}

// 452 to the first recipient is a plain temporary failure: nothing was
// accepted, so there is nothing to split.
func TestFirstRecipient452Defers(t *testing.T) {
	srv := startServer(t, "127.0.0.2", smtptest.Options{Rcpt: func(string) error {
		return smtptest.Reply(452, "4.5.3", "too many recipients")
	}})
	res := oneMX(t, srv).Deliver(context.Background(), envelope("example.test", true, manyRcpts(3)...))
	if n := countStatus(res, Deferred); n != 3 || len(srv.Messages()) != 0 {
		t.Errorf("deferred %d of 3, messages %d", n, len(srv.Messages()))
	}
}

// Refusals decided here, not by the server, carry no reply code: the
// bounce then names no remote server and quotes no reply it never sent.
func TestLocalDecisionsHaveNoReplyCode(t *testing.T) {
	srv := startServer(t, "127.0.0.2", smtptest.Options{MaxMessageBytes: 10})
	res := oneMX(t, srv).Deliver(context.Background(), envelope("example.test", true, "a@example.test"))
	if r := res.Rcpts[0]; r.Status != Bounced || r.Reply.Code != 0 || r.Reply.Enhanced != "5.3.4" {
		t.Errorf("over SIZE: %v %+v, want bounced, code 0, 5.3.4", r.Status, r.Reply)
	}
	srv = startServer(t, "127.0.0.2", smtptest.Options{})
	res = oneMX(t, srv).Deliver(context.Background(), envelope("example.test", true, "josé@example.test"))
	if r := res.Rcpts[0]; r.Status != Bounced || r.Reply.Code != 0 || r.Reply.Enhanced != "5.6.7" {
		t.Errorf("SMTPUTF8 not offered: %v %+v, want bounced, code 0, 5.6.7", r.Status, r.Reply)
	}
}

// The SMTPUTF8 parameter alone does not make a message need the extension:
// with ASCII addresses and header fields it goes to a server without it;
// a non-ASCII header field still bounces.
func TestSMTPUTF8OnlyWhenNeeded(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		want       Status
	}{
		{"ascii", testBody, Delivered},
		{"utf8 subject", "From: a@src.test\r\nSubject: caf\xc3\xa9\r\n\r\nhello\r\n", Bounced},
		{"utf8 body only", "From: a@src.test\r\n\r\ncaf\xc3\xa9\r\n", Delivered},
		{"headers only", "From: a@src.test\r\nSubject: x\r\n", Delivered},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, "127.0.0.2", smtptest.Options{})
			env := envelope("example.test", true, "a@example.test")
			env.SMTPUTF8 = true
			env.Body = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(tt.body)), nil }
			res := oneMX(t, srv).Deliver(context.Background(), env)
			if r := res.Rcpts[0]; r.Status != tt.want {
				t.Fatalf("%v %v, want %v", r.Status, r.Reply, tt.want)
			}
			if msgs := srv.Messages(); len(msgs) == 1 && msgs[0].Opts.UTF8 {
				t.Error("SMTPUTF8 sent to a server that does not offer it")
			}
		})
	}
}

// DSN parameters go to a next hop that offers DSN, and its delivered
// recipients are marked so that the success notice is left to it.
func TestDSNParametersPassedOn(t *testing.T) {
	for _, offered := range []bool{true, false} {
		t.Run(fmt.Sprint("offered=", offered), func(t *testing.T) {
			srv := startServer(t, "127.0.0.2", smtptest.Options{DSN: offered})
			env := envelope("example.test", true, "a@example.test", "b@example.test")
			env.EnvID, env.Ret = "env-42", "HDRS"
			env.DSN = []RcptDSN{{Notify: []string{"SUCCESS", "FAILURE"}, ORcpt: "rfc822;A@Example.test"}, {}}
			res := oneMX(t, srv).Deliver(context.Background(), env)
			msgs := srv.Messages()
			if len(msgs) != 1 || countStatus(res, Delivered) != 2 {
				t.Fatalf("statuses %v, %d messages", statuses(res), len(msgs))
			}
			m := msgs[0]
			if offered {
				o := m.RcptOpts[0]
				if m.Opts.EnvelopeID != "env-42" || m.Opts.Return != smtp.DSNReturnHeaders ||
					fmt.Sprint(o.Notify) != "[SUCCESS FAILURE]" || o.OriginalRecipient != "A@Example.test" ||
					o.OriginalRecipientType != smtp.DSNAddressTypeRFC822 {
					t.Errorf("received MAIL %+v, RCPT %+v", m.Opts, o)
				}
			}
			for _, r := range res.Rcpts {
				if r.NextHopDSN != offered {
					t.Errorf("%s: NextHopDSN = %v, want %v", r.Rcpt, r.NextHopDSN, offered)
				}
			}
		})
	}
}

// TestAtRcpt: a refusal of one recipient at RCPT TO is marked as its own
// answer; a refusal of the whole transaction (MAIL FROM, DATA) is not,
// whatever its code, so the queue's suppression list never learns from it.
func TestAtRcpt(t *testing.T) {
	srv := startServer(t, "127.0.0.2", smtptest.Options{Rcpt: func(to string) error {
		if strings.HasPrefix(to, "gone@") {
			return smtptest.Reply(550, "5.1.1", "no such user")
		}
		return nil
	}})
	res := oneMX(t, srv).Deliver(context.Background(), envelope("example.test", true, "gone@example.test", "ann@example.test"))
	if r := res.Rcpts[0]; r.Status != Bounced || !r.AtRcpt || r.Reply.Enhanced != "5.1.1" {
		t.Errorf("refused at RCPT: %+v", r)
	}
	if r := res.Rcpts[1]; r.Status != Delivered || r.AtRcpt {
		t.Errorf("accepted: %+v", r)
	}
	for name, opts := range map[string]smtptest.Options{
		"MAIL": {Mail: func(string) error { return smtptest.Reply(550, "5.1.1", "sender unknown") }},
		"DATA": {Data: func(*smtptest.Message) error { return smtptest.Reply(554, "5.1.1", "no") }},
	} {
		srv := startServer(t, "127.0.0.2", opts)
		res := oneMX(t, srv).Deliver(context.Background(), envelope("example.test", true, "ann@example.test"))
		if r := res.Rcpts[0]; r.Status != Bounced || r.AtRcpt {
			t.Errorf("refused at %s: %+v", name, r)
		}
	}
}
