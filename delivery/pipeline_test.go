package delivery

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/outbox-mta/outbox/delivery/smtptest"
)

// scriptMX returns a Deliverer whose example.test MX is srv, and the dialer
// that records what it writes.
func scriptMX(t *testing.T, addr string, edits ...func(*Options)) (*Deliverer, *recordingDialer) {
	t.Helper()
	dl := &recordingDialer{to: addr}
	return newTestDeliverer(t, &fakeResolver{hosts: map[string][]Host{"example.test": {host("mx1.example.test", 10, "127.0.0.2")}}}, dl, edits...), dl
}

// commandsIn splits a Write into its lines.
func commandsIn(w string) []string {
	return strings.Split(strings.TrimSuffix(w, "\r\n"), "\r\n")
}

// TestPipelinedGroupInOneWrite: to a server that offers PIPELINING, MAIL,
// every RCPT and DATA go in one write, and the message with its final dot
// in the next; each RCPT reply is its recipient's, and the DSN, SIZE and
// SMTPUTF8 parameters go as in lock-step.
func TestPipelinedGroupInOneWrite(t *testing.T) {
	srv := startServer(t, "127.0.0.2", smtptest.Options{DSN: true, SMTPUTF8: true, MaxMessageBytes: 1 << 20,
		Rcpt: func(to string) error {
			if strings.HasPrefix(to, "nobody@") {
				return smtptest.Reply(550, "5.1.1", "no such user")
			}
			return nil
		}})
	d, dl := scriptMX(t, srv.Addr)
	env := envelope("example.test", true, "a@example.test", "nobody@example.test", "b@example.test")
	env.SMTPUTF8, env.EnvID, env.Ret = true, "env-1", "HDRS"
	env.DSN = []RcptDSN{{Notify: []string{"SUCCESS", "FAILURE"}, ORcpt: "rfc822;orig-a@example.test"}, {}, {Notify: []string{"NEVER"}}}
	res := d.Deliver(context.Background(), env)

	want := []string{"a@example.test=delivered 250", "nobody@example.test=bounced 550", "b@example.test=delivered 250"}
	if got := statuses(res); !slices.Equal(got, want) {
		t.Fatalf("outcomes %v, want %v", got, want)
	}
	group := commandsIn(dl.writeWith("MAIL FROM:"))
	wantGroup := []string{
		"MAIL FROM:<sender@src.test> BODY=8BITMIME SIZE=" + strconv.Itoa(len(testBody)) + " SMTPUTF8 RET=HDRS ENVID=env-1",
		"RCPT TO:<a@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=RFC822;orig-a@example.test",
		"RCPT TO:<nobody@example.test>",
		"RCPT TO:<b@example.test> NOTIFY=NEVER",
		"DATA",
	}
	if !slices.Equal(group, wantGroup) {
		t.Errorf("first write of the transaction:\n%q\nwant\n%q", group, wantGroup)
	}
	if w := dl.writeWith("\r\n.\r\n"); !strings.HasPrefix(w, "From: a@src.test") {
		t.Errorf("the message and its final dot went in several writes; the last: %q", w)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || !slices.Equal(msgs[0].Rcpts, []string{"a@example.test", "b@example.test"}) {
		t.Fatalf("server got %+v", msgs)
	}
	bodyEqual(t, msgs[0].Data)
	m := msgs[0]
	if m.Opts.EnvelopeID != "env-1" || m.Opts.Return != smtp.DSNReturnHeaders || !m.Opts.UTF8 || m.Opts.Size != int64(len(testBody)) {
		t.Errorf("MAIL parameters %+v", m.Opts)
	}
	if o := m.RcptOpts[0]; len(o.Notify) != 2 || o.OriginalRecipient != "orig-a@example.test" {
		t.Errorf("RCPT parameters of a@: %+v", o)
	}
}

// scriptCase is one scripted server and what a delivery to it must give.
type scriptCase struct {
	name       string
	pipelining bool
	atLeastOne bool
	rcpts      []string
	reply      func(cmd string) string
	want       []string // statuses
	delivered  []string // recipients of the one message the server accepted; nil: none
	group      []string // the verbs of the transaction's first write
	reused     bool     // the session carries the next delivery
}

// replyTo scripts the replies of the first transaction: a command that
// starts with a key of m gets its value. From the MAIL of the next
// delivery's sender on (nextFrom), every reply is the default.
func replyTo(m map[string]string) func(string) string {
	var next atomic.Bool
	return func(cmd string) string {
		if strings.HasPrefix(cmd, "MAIL FROM:<"+nextFrom+">") {
			next.Store(true)
		}
		if next.Load() {
			return ""
		}
		for prefix, r := range m {
			if strings.HasPrefix(cmd, prefix) {
				return r
			}
		}
		return ""
	}
}

// TestScriptedPipelining runs deliveries against scripted servers, with and
// without PIPELINING, through refusals, a DATA accepted with no recipient,
// a dropped connection and a server inconsistent about its limit.
func TestScriptedPipelining(t *testing.T) {
	cases := []scriptCase{
		{name: "lock-step without PIPELINING", atLeastOne: true, rcpts: []string{"a@example.test", "nobody@example.test", "b@example.test"},
			reply:     replyTo(map[string]string{"RCPT TO:<nobody@": "550 5.1.1 no such user"}),
			want:      []string{"a@example.test=delivered 250", "nobody@example.test=bounced 550", "b@example.test=delivered 250"},
			delivered: []string{"a@example.test", "b@example.test"}, group: []string{"MAIL"}, reused: true},
		{name: "pipelined, some refused", pipelining: true, atLeastOne: true, rcpts: []string{"a@example.test", "busy@example.test", "nobody@example.test"},
			reply:     replyTo(map[string]string{"RCPT TO:<nobody@": "550 5.1.1 no such user", "RCPT TO:<busy@": "450 4.2.1 try later"}),
			want:      []string{"a@example.test=delivered 250", "busy@example.test=deferred 450", "nobody@example.test=bounced 550"},
			delivered: []string{"a@example.test"}, group: []string{"MAIL", "RCPT", "RCPT", "RCPT", "DATA"}, reused: true},
		{name: "pipelined, no recipient: DATA refused 554 (RFC 2920)", pipelining: true, atLeastOne: true, rcpts: []string{"x@example.test", "y@example.test"},
			reply: replyTo(map[string]string{"RCPT": "550 5.1.1 no such user"}),
			want:  []string{"x@example.test=bounced 550", "y@example.test=bounced 550"}, group: []string{"MAIL", "RCPT", "RCPT", "DATA"}, reused: true},
		{name: "pipelined, no recipient, DATA accepted all the same", pipelining: true, atLeastOne: true, rcpts: []string{"x@example.test"},
			reply: replyTo(map[string]string{"RCPT": "550 5.1.1 no such user", "DATA": "354 go ahead"}),
			want:  []string{"x@example.test=bounced 550"}, group: []string{"MAIL", "RCPT", "DATA"}},
		{name: "pipelined, MAIL refused", pipelining: true, atLeastOne: true, rcpts: []string{"a@example.test", "b@example.test"},
			reply: replyTo(map[string]string{"MAIL": "550 5.7.1 sender refused", "RCPT": "503 5.5.1 bad sequence", "DATA": "503 5.5.1 bad sequence"}),
			want:  []string{"a@example.test=bounced 550", "b@example.test=bounced 550"}, group: []string{"MAIL", "RCPT", "RCPT", "DATA"}, reused: true},
		{name: "pipelined, connection dropped after a RCPT", pipelining: true, atLeastOne: true, rcpts: []string{"a@example.test", "b@example.test", "c@example.test"},
			reply: replyTo(map[string]string{"RCPT TO:<b@": smtptest.Drop}),
			want:  []string{"a@example.test=deferred", "b@example.test=deferred", "c@example.test=deferred"}, group: []string{"MAIL", "RCPT", "RCPT", "RCPT", "DATA"}},
		{name: "pipelined, dropped at the final dot", pipelining: true, atLeastOne: true, rcpts: []string{"a@example.test"},
			reply: replyTo(map[string]string{".": smtptest.Drop}),
			want:  []string{"a@example.test=deferred"}, group: []string{"MAIL", "RCPT", "DATA"}},
		{name: "pipelined, all-or-nothing keeps DATA back", pipelining: true, rcpts: []string{"a@example.test", "busy@example.test"},
			reply: replyTo(map[string]string{"RCPT TO:<busy@": "450 4.2.1 try later"}),
			want:  []string{"a@example.test=deferred", "busy@example.test=deferred 450"}, group: []string{"MAIL", "RCPT", "RCPT"}, reused: true},
		{name: "pipelined, all-or-nothing, all accepted", pipelining: true, rcpts: []string{"a@example.test", "b@example.test"},
			want:      []string{"a@example.test=delivered 250", "b@example.test=delivered 250"},
			delivered: []string{"a@example.test", "b@example.test"}, group: []string{"MAIL", "RCPT", "RCPT"}, reused: true},
		{name: "pipelined, server accepts after its limit", pipelining: true, atLeastOne: true, rcpts: []string{"a@example.test", "b@example.test", "c@example.test"},
			reply:     replyTo(map[string]string{"RCPT TO:<b@": "452 4.5.3 too many recipients"}),
			want:      []string{"a@example.test=delivered 250", "b@example.test=deferred 452", "c@example.test=delivered 250"},
			delivered: []string{"a@example.test", "c@example.test"}, group: []string{"MAIL", "RCPT", "RCPT", "RCPT", "DATA"}, reused: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { runScriptCase(t, tc) })
	}
}

// nextFrom is the sender of the delivery that follows each scripted case.
const nextFrom = "next@src.test"

func runScriptCase(t *testing.T, tc scriptCase) {
	srv := smtptest.StartScript(t, smtptest.ScriptOptions{Pipelining: tc.pipelining, Extensions: []string{"8BITMIME"}, Reply: tc.reply})
	d, dl := scriptMX(t, srv.Addr)
	res := d.Deliver(context.Background(), envelope("example.test", tc.atLeastOne, tc.rcpts...))
	if got := statuses(res); !slices.Equal(got, tc.want) {
		t.Errorf("outcomes %v, want %v", got, tc.want)
	}
	var verbs []string
	for _, c := range commandsIn(dl.writeWith("MAIL FROM:")) {
		verbs = append(verbs, strings.SplitN(c, " ", 2)[0])
	}
	if !slices.Equal(verbs, tc.group) {
		t.Errorf("first write of the transaction %v, want %v", verbs, tc.group)
	}
	if v := srv.Violations(); len(v) > 0 {
		t.Errorf("commands sent ahead of a reply the client had to wait for: %q", v)
	}
	var got []string
	for _, m := range srv.Messages() {
		if len(m.Rcpts) > 0 || len(m.Data) > 0 {
			if got != nil {
				t.Errorf("a second message: %+v", m)
			}
			got = m.Rcpts
			bodyEqual(t, m.Data)
		}
	}
	if !slices.Equal(got, tc.delivered) {
		t.Errorf("server delivered to %q, want %q (commands %q)", got, tc.delivered, srv.Commands())
	}
	if slices.Contains(srv.Commands(), "DATA") && !slices.Contains(tc.group, "DATA") && tc.delivered == nil {
		t.Errorf("DATA sent for a withheld transaction: %q", srv.Commands())
	}

	// The next delivery: on the same session when it could be kept, after
	// an RSET when the transaction was left open.
	waitFor(t, "the session pooled or closed", func() bool { return d.pool.idleLen("direct:example.test") == 1 || !tc.reused })
	n := len(srv.Commands())
	env := envelope("example.test", true, "next@example.test")
	env.From = nextFrom
	if res := d.Deliver(context.Background(), env); res.Rcpts[0].Status != Delivered {
		t.Fatalf("next delivery: %+v (commands %q)", res.Rcpts[0], srv.Commands())
	}
	if conns := srv.Connections(); (conns == 1) != tc.reused {
		t.Errorf("%d connections for two deliveries; reuse expected: %v", conns, tc.reused)
	}
	prev, next := srv.Commands()[:n], srv.Commands()[n:]
	// A transaction that did not end with the final dot is reset before
	// the session is pooled.
	wantReset := tc.reused && tc.delivered == nil
	if tc.reused && (prev[len(prev)-1] == "RSET") != wantReset {
		t.Errorf("commands before the next delivery %q; RSET expected: %v", prev, wantReset)
	}
	if next[0] == "RSET" || slices.Contains(next, "EHLO") && tc.reused {
		t.Errorf("next transaction %q", next)
	}
}
