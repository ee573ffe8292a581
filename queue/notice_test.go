package queue

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/outbox-mta/outbox/store"
)

// WarnDelay writes the warning itself (the caller only decides when):
// it reports the deferred recipients that want delays, from the null
// sender to the sender, sets DelayWarned, counts it as a notice, and
// refuses a message from <> or one with nothing to report.
func TestWarnDelay(t *testing.T) {
	h := newHarness(t, testOptions())
	ctx := context.Background()
	deferred := func(addr string, n store.DSNNotify) store.Recipient {
		return store.Recipient{Addr: addr, State: store.StateDeferred, Attempts: 1, Notify: n, NextAttempt: t0.Add(h.q.opts.MaxLifetime)}
	}
	id := h.fs.add(&store.Message{From: "app@here.test", Received: t0, Recipients: []store.Recipient{
		deferred("late@x.test", 0),
		deferred("quiet@x.test", store.NotifyNever),
		{Addr: "done@x.test", State: store.StateDelivered},
		deferred("asked@y.test", store.NotifyDelay),
	}}, "Subject: slow\r\n\r\nbody\r\n")
	if err := h.q.WarnDelay(ctx, h.fs.msg(t, id)); err != nil {
		t.Fatal(err)
	}
	ns := h.dsn.list()
	if len(ns) != 1 || ns[0].msgID != id || ns[0].from != "app@here.test" || !slices.Equal(ns[0].bounced, []string{"late@x.test", "asked@y.test"}) {
		t.Fatalf("notices %+v", ns)
	}
	if !h.fs.msg(t, id).DelayWarned {
		t.Error("DelayWarned not set")
	}
	if got := h.q.Stats().DSNs; got != 1 {
		t.Errorf("Stats.DSNs %d, want 1", got)
	}

	null := h.fs.add(&store.Message{From: "", Received: t0, Recipients: []store.Recipient{deferred("a@x.test", 0)}}, "x")
	quiet := h.fs.add(&store.Message{From: "app@here.test", Received: t0, Recipients: []store.Recipient{deferred("a@x.test", store.NotifyNever)}}, "x")
	for _, id := range []string{null, quiet} {
		err := h.q.WarnDelay(ctx, h.fs.msg(t, id))
		if err == nil || !strings.Contains(err.Error(), "queue:") {
			t.Errorf("WarnDelay(%s) = %v, want an error", id, err)
		}
		if h.fs.msg(t, id).DelayWarned {
			t.Errorf("%s marked warned", id)
		}
	}
	if n := len(h.dsn.list()); n != 1 {
		t.Errorf("%d notices, want 1", n)
	}
}
