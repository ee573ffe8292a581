package queue

import (
	"context"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/store"
)

// A message's own ExpireAt ends its retries before the lifetime: the last
// attempt is at ExpireAt, and its failure bounces with 4.4.7.
func TestExpireAtBouncesEarly(t *testing.T) {
	h := newHarness(t, testOptions())
	h.del.set(func(_ context.Context, env *delivery.Envelope) *delivery.Result {
		return result(env, delivery.Deferred, temp451)
	})
	end := t0.Add(12 * time.Minute) // after the 5m retry, before the 10m one ends
	m := &store.Message{From: "app@here.test", Received: t0, ExpireAt: end,
		Recipients: []store.Recipient{{Addr: "a@x.test", State: store.StateQueued, NextAttempt: t0}}}
	id := h.fs.add(m, "Subject: test\r\n\r\nhello\r\n")
	h.start()
	for i := 0; ; i++ {
		if i > 10 {
			t.Fatal("no give-up after 10 attempts")
		}
		waitFor(t, "attempt recorded", func() bool {
			r := h.fs.rcpt(t, id, "a@x.test")
			return r.State == store.StateBounced || r.NextAttempt.After(h.clock.Now())
		})
		r := h.fs.rcpt(t, id, "a@x.test")
		if r.State == store.StateBounced {
			break
		}
		if r.NextAttempt.After(end) {
			t.Fatalf("next attempt %v after expire_at %v", r.NextAttempt, end)
		}
		h.waitArmed(r.NextAttempt)
		h.clock.Set(r.NextAttempt)
	}
	r := h.fs.rcpt(t, id, "a@x.test")
	last := r.History[len(r.History)-1]
	if last.Enhanced != "4.4.7" || !last.Time.Equal(end) || r.Attempts != 3 {
		t.Errorf("attempts %d, last %+v; want 3 attempts, the last a 4.4.7 at %v", r.Attempts, last, end)
	}
}

// A scheduled message is due at DeliverAfter (its recipients' NextAttempt):
// the dispatcher arms its timer for it and makes no attempt before.
func TestScheduledNotAttemptedEarly(t *testing.T) {
	h := newHarness(t, testOptions())
	at := t0.Add(time.Hour)
	m := &store.Message{From: "app@here.test", Received: t0, DeliverAfter: at,
		Recipients: []store.Recipient{{Addr: "a@x.test"}}}
	b, err := h.fs.NewBody()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write([]byte("Subject: later\r\n\r\nhello\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := h.q.enqueue(context.Background(), m, b); err != nil {
		t.Fatal(err)
	}
	if r := h.fs.rcpt(t, m.ID, "a@x.test"); !r.NextAttempt.Equal(at) {
		t.Fatalf("enqueued due at %v, want %v", r.NextAttempt, at)
	}
	h.start()
	h.waitArmed(at)
	if n := h.del.count(); n != 0 {
		t.Fatalf("%d attempts before the scheduled time", n)
	}
	h.clock.Set(at)
	h.waitState(m.ID, "a@x.test", store.StateDelivered)
}
