package queue

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/queue/dsn"
	"github.com/outbox-mta/outbox/store"
)

func TestNoticeOwed(t *testing.T) {
	const (
		never   = store.NotifyNever
		success = store.NotifySuccess
		failure = store.NotifyFailure
		delay   = store.NotifyDelay
	)
	tests := []struct {
		state      store.State
		notify     store.DSNNotify
		nextHopDSN bool
		want       bool
	}{
		{store.StateBounced, 0, false, true}, // no NOTIFY: failures are notified
		{store.StateBounced, failure, false, true},
		{store.StateBounced, failure | delay, false, true},
		{store.StateBounced, never, false, false},
		{store.StateBounced, success, false, false},
		{store.StateBounced, delay, false, false},
		{store.StateDelivered, 0, false, false},
		{store.StateDelivered, failure, false, false},
		{store.StateDelivered, success, false, true},           // relayed: the next hop sends nothing
		{store.StateDelivered, success | failure, true, false}, // the next hop took the request
		{store.StateDeferred, success | failure | delay, false, false},
	}
	for _, tt := range tests {
		r := &store.Recipient{State: tt.state, Notify: tt.notify}
		if got := noticeOwed(r, event{nextHopDSN: tt.nextHopDSN}); got != tt.want {
			t.Errorf("%v NOTIFY=%v nextHopDSN=%v: owed %v, want %v", tt.state, tt.notify.Keywords(), tt.nextHopDSN, got, tt.want)
		}
	}
}

// The message's DSN parameters reach the Deliverer, per recipient of the
// group; a recipient that delivered with NOTIFY=SUCCESS to a next hop
// without DSN gets a notice, one whose next hop took the request does not,
// and a NOTIFY=NEVER bounce gets none.
func TestDSNParametersAndNotices(t *testing.T) {
	h := newHarness(t, testOptions())
	h.del.set(func(_ context.Context, env *delivery.Envelope) *delivery.Result {
		res := result(env, delivery.Delivered, ok250)
		for i := range res.Rcpts {
			switch env.Rcpts[i] {
			case "taken@x.test":
				res.Rcpts[i].NextHopDSN = true
			case "never@x.test", "bounce@x.test":
				res.Rcpts[i].Status, res.Rcpts[i].Reply = delivery.Bounced, perm550
			}
		}
		return res
	})
	m := &store.Message{From: "app@here.test", Received: t0, EnvID: "env-1", Ret: store.RetHdrs}
	for _, r := range []store.Recipient{
		{Addr: "relayed@x.test", Notify: store.NotifySuccess, ORcpt: "rfc822;Relayed@X.test"},
		{Addr: "taken@x.test", Notify: store.NotifySuccess | store.NotifyFailure},
		{Addr: "never@x.test", Notify: store.NotifyNever},
		{Addr: "bounce@x.test"},
		{Addr: "quiet@x.test"},
	} {
		r.State, r.NextAttempt = store.StateQueued, t0
		m.Recipients = append(m.Recipients, r)
	}
	id := h.fs.add(m, "Subject: x\r\n\r\nbody\r\n")
	h.start()
	waitFor(t, "notice", func() bool { return h.fs.msg(t, id).DSNID != "" })

	env := h.del.envelopes()[0]
	if env.EnvID != "env-1" || env.Ret != "HDRS" || len(env.DSN) != 5 {
		t.Fatalf("envelope EnvID %q Ret %q DSN %+v", env.EnvID, env.Ret, env.DSN)
	}
	if got := fmt.Sprint(env.DSN[0], env.DSN[2], env.DSN[4]); got != "{[SUCCESS] rfc822;Relayed@X.test} {[NEVER] } {[] }" {
		t.Errorf("per-recipient DSN parameters %s", got)
	}
	ns := h.dsn.list()
	if len(ns) != 1 || !slices.Equal(ns[0].bounced, []string{"relayed@x.test", "bounce@x.test"}) {
		t.Errorf("notices %+v, want one about relayed@ and bounce@", ns)
	}
}

// A notice names a Remote-MTA only for a server's reply: a local decision
// (no reply code) is reported as such, like a DNS failure.
func TestNoticeRecipients(t *testing.T) {
	rcpts := []store.Recipient{
		{Addr: "big@x.test", State: store.StateBounced, ORcpt: "rfc822;Big@X.test", History: []store.Attempt{
			{Time: t0, Host: "mx.x.test[127.0.0.2]:25", Enhanced: "5.3.4", Reply: "message size 20 exceeds the fixed limit 10 of mx.x.test[127.0.0.2]:25", Result: store.StateBounced}}},
		{Addr: "gone@x.test", State: store.StateBounced, History: []store.Attempt{
			{Time: t0, Host: "mx.x.test[127.0.0.2]:25", Code: 550, Enhanced: "5.1.1", Reply: "no such user", Result: store.StateBounced}}},
		{Addr: "ok@x.test", State: store.StateDelivered, History: []store.Attempt{
			{Time: t0, Host: "mx.x.test[127.0.0.2]:25", Code: 250, Enhanced: "2.0.0", Reply: "ok", Result: store.StateDelivered}}},
		{Addr: "later@x.test", State: store.StateDeferred},
	}
	got := NoticeRecipients(rcpts)
	want := []dsn.Recipient{
		{Addr: "big@x.test", Original: "rfc822;Big@X.test", Action: dsn.Failed, Status: "5.3.4", LastAttempt: t0,
			Diagnostic: "message size 20 exceeds the fixed limit 10 of mx.x.test[127.0.0.2]:25"},
		{Addr: "gone@x.test", Action: dsn.Failed, Status: "5.1.1", Code: 550, LastAttempt: t0,
			RemoteMTA: "mx.x.test", Diagnostic: "550 5.1.1 no such user"},
		{Addr: "ok@x.test", Action: dsn.Relayed, Status: "2.0.0", Code: 250, LastAttempt: t0,
			RemoteMTA: "mx.x.test", Diagnostic: "250 2.0.0 ok"},
		{Addr: "later@x.test", Action: dsn.Delayed},
	}
	if !slices.Equal(got, want) {
		t.Errorf("NoticeRecipients =\n%+v\nwant\n%+v", got, want)
	}
}
