package queue

import (
	"testing"

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
