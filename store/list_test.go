package store

import (
	"testing"
	"time"
)

func TestFilterMatchEnvelope(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m := &Message{From: "App@Here.test", Received: now, Recipients: []Recipient{
		{Addr: "a@x.test", State: StateDeferred},
		{Addr: "b@y.test", State: StateHeld},
	}}
	null := &Message{From: "", Received: now, Recipients: []Recipient{{Addr: "a@x.test", State: StateQueued}}}
	tests := []struct {
		name string
		f    Filter
		m    *Message
		want bool
	}{
		{"sender any case", Filter{Sender: "app@here.TEST"}, m, true},
		{"other sender", Filter{Sender: "x@here.test"}, m, false},
		{"null sender", Filter{Sender: "<>"}, null, true},
		{"null sender is not a sender", Filter{Sender: "<>"}, m, false},
		{"recipient", Filter{Recipient: "B@y.test"}, m, true},
		{"recipient and its state", Filter{Recipient: "b@y.test", State: StateHeld}, m, true},
		{"recipient, other's state", Filter{Recipient: "b@y.test", State: StateDeferred}, m, false},
		{"recipient, other's domain", Filter{Recipient: "a@x.test", Domain: "y.test"}, m, false},
		{"older than", Filter{ReceivedBefore: now.Add(time.Second)}, m, true},
		{"not older than", Filter{ReceivedBefore: now}, m, false},
		{"newer than", Filter{ReceivedAfter: now.Add(-time.Second)}, m, true},
		{"not newer than", Filter{ReceivedAfter: now}, m, false},
	}
	for _, tt := range tests {
		if got := tt.f.Match(tt.m); got != tt.want {
			t.Errorf("%s: Match = %v, want %v", tt.name, got, tt.want)
		}
	}
}
