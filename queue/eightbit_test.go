package queue

import (
	"testing"

	"github.com/outbox-mta/outbox/store"
)

// TestEightBit: which stored messages delivery treats as 8-bit (and so
// converts for a server without 8BITMIME). A signed record from before
// the body type was kept is sent as it is, never converted.
func TestEightBit(t *testing.T) {
	tests := []struct {
		bt     store.BodyType
		signed []string
		want   bool
	}{
		{store.Body7Bit, nil, false},
		{store.Body8BitMIME, nil, true},
		{store.Body8BitMIME, []string{"example.com/s (rsa-sha256)"}, true},
		{store.BodyUnknown, nil, true},
		{store.BodyUnknown, []string{"example.com/s (rsa-sha256)"}, false},
	}
	for _, tt := range tests {
		if got := eightBit(&store.Message{BodyType: tt.bt, Signed: tt.signed}); got != tt.want {
			t.Errorf("BodyType %d, signed %v: %v, want %v", tt.bt, tt.signed, got, tt.want)
		}
	}
}
