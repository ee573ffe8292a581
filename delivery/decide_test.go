package delivery

import (
	"slices"
	"testing"
)

func TestDecide(t *testing.T) {
	const (
		P = pending
		D = Deferred
		B = Bounced
	)
	tests := []struct {
		name       string
		codes      []int
		atLeastOne bool
		wantData   bool
		want       []Status
	}{
		{"all accepted, at-least-one", []int{250, 251}, true, true, []Status{P, P}},
		{"all accepted, all-or-nothing", []int{250, 251}, false, true, []Status{P, P}},
		{"mixed, at-least-one", []int{250, 450, 550}, true, true, []Status{P, D, B}},
		{"mixed, all-or-nothing", []int{250, 450, 550}, false, false, []Status{D, D, B}},
		{"accepted and 5xx, all-or-nothing", []int{250, 550}, false, false, []Status{D, B}},
		{"accepted and 4xx, all-or-nothing", []int{250, 452}, false, false, []Status{D, D}},
		{"none accepted, at-least-one", []int{450, 550}, true, false, []Status{D, B}},
		{"none accepted, all-or-nothing", []int{550, 554}, false, false, []Status{B, B}},
		{"no reply counts as temporary", []int{250, 0}, true, true, []Status{P, D}},
		{"no reply, all-or-nothing", []int{250, 0}, false, false, []Status{D, D}},
		{"single accepted", []int{250}, false, true, []Status{P}},
		{"single 4xx", []int{421}, true, false, []Status{D}},
		{"empty", nil, true, false, []Status{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, st := decide(tt.codes, tt.atLeastOne)
			if data != tt.wantData {
				t.Errorf("sendData = %v, want %v", data, tt.wantData)
			}
			if !slices.Equal(st, tt.want) {
				t.Errorf("statuses = %v, want %v", st, tt.want)
			}
		})
	}
}

func TestChooseAuth(t *testing.T) {
	tests := []struct {
		offered          string
		encrypted, clear bool
		want             string // "" = ErrNoAuthMechanism
	}{
		{"PLAIN LOGIN CRAM-MD5", true, false, "CRAM-MD5"},
		{"PLAIN LOGIN", true, false, "PLAIN"},
		{"LOGIN", true, false, "LOGIN"},
		{"login plain", true, false, "PLAIN"},
		{"PLAIN LOGIN", false, false, ""},
		{"PLAIN LOGIN CRAM-MD5", false, false, "CRAM-MD5"},
		{"PLAIN", false, true, "PLAIN"},
		{"DIGEST-MD5 XOAUTH2", true, false, ""},
		{"", true, false, ""},
	}
	for _, tt := range tests {
		got, err := chooseAuth(tt.offered, tt.encrypted, tt.clear)
		if got != tt.want || (tt.want == "") != (err != nil) {
			t.Errorf("chooseAuth(%q, enc=%v, clear=%v) = %q, %v; want %q", tt.offered, tt.encrypted, tt.clear, got, err, tt.want)
		}
	}
}
