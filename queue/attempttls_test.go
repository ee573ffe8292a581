package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/delivery/tlspolicy"
	"github.com/outbox-mta/outbox/store"
)

func TestExpiryEnhanced(t *testing.T) {
	for enh, want := range map[string]string{"4.7.5": "5.7.5", "4.7.10": "5.7.10", "4.4.1": "4.4.7", "": "4.4.7"} {
		if got := expiryEnhanced(delivery.Reply{Enhanced: enh}); got != want {
			t.Errorf("expiryEnhanced(%q) = %q, want %q", enh, got, want)
		}
	}
}

func TestAttemptTLS(t *testing.T) {
	tests := []struct {
		in   tlspolicy.Outcome
		want store.AttemptTLS
	}{
		{tlspolicy.Outcome{}, store.AttemptTLS{}},
		{tlspolicy.Outcome{Version: "TLS1.3", Cipher: "TLS_AES_128_GCM_SHA256", VerifiedBy: tlspolicy.VerifiedMTASTS,
			Policy: tlspolicy.TypeMTASTS, Domain: "example.com"},
			store.AttemptTLS{VerifiedBy: "mta-sts", Policy: "mta-sts enforce example.com"}},
		{tlspolicy.Outcome{Policy: tlspolicy.TypeMTASTS, Mode: tlspolicy.ModeTesting, Domain: "example.com",
			Failure: tlspolicy.ResultValidationFailure, Detail: "validation-failure: mx.example.net"},
			store.AttemptTLS{VerifiedBy: "none", Policy: "mta-sts testing example.com", Failure: "validation-failure: mx.example.net"}},
	}
	for _, tt := range tests {
		if got := attemptTLS(tt.in); got != tt.want {
			t.Errorf("attemptTLS(%+v) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

// A message's TLS requirement reaches delivery, each attempt's TLS outcome
// is kept in the history, and a recipient deferred by a TLS policy until
// its deadline bounces with the permanent form of the policy's status.
func TestTLSPolicyDeferralExpiresAs57x(t *testing.T) {
	h := newHarness(t, testOptions())
	var reqTLS []bool
	h.del.set(func(_ context.Context, env *delivery.Envelope) *delivery.Result {
		reqTLS = append(reqTLS, env.RequireTLS)
		res := result(env, delivery.Deferred, delivery.Reply{Enhanced: "4.7.5", Text: "no MX host of x.test may be used under its mta-sts enforce x.test policy"})
		res.TLSOutcome = tlspolicy.Outcome{Policy: tlspolicy.TypeMTASTS, Domain: "x.test",
			Failure: tlspolicy.ResultValidationFailure, Detail: "validation-failure: mx.x.test matches no mx pattern"}
		return res
	})
	end := t0.Add(12 * time.Minute)
	m := &store.Message{From: "app@here.test", Received: t0, ExpireAt: end, TLSReq: store.TLSReqRequire,
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
		h.waitArmed(r.NextAttempt)
		h.clock.Set(r.NextAttempt)
	}
	r := h.fs.rcpt(t, id, "a@x.test")
	first, last := r.History[0], r.History[len(r.History)-1]
	if last.Enhanced != "5.7.5" || !strings.HasPrefix(r.LastReply, "5.7.5 delivery time expired") {
		t.Errorf("last attempt %+v, last reply %q; want 5.7.5", last, r.LastReply)
	}
	if want := (store.AttemptTLS{VerifiedBy: "none", Policy: "mta-sts enforce x.test", Failure: "validation-failure: mx.x.test matches no mx pattern"}); first.TLSInfo != want || last.TLSInfo != want {
		t.Errorf("TLS info %+v / %+v, want %+v", first.TLSInfo, last.TLSInfo, want)
	}
	if len(reqTLS) == 0 || !reqTLS[0] {
		t.Errorf("Envelope.RequireTLS %v, want true", reqTLS)
	}
}
