package submission

import (
	"strings"
	"testing"
)

func TestCheckAddress(t *testing.T) {
	tests := []struct {
		addr     string
		ok       bool
		nonASCII bool
	}{
		{"user@example.com", true, false},
		{"first.last+tag@sub.example.co.uk", true, false},
		{"o'brien@example.com", true, false},
		{"root@localhost", true, false},
		{"x@[192.0.2.1]", true, false},
		{"x@[IPv6:2001:db8::1]", true, false},
		{"用户@例子.广告", true, true},
		{"josé@exämple.com", true, true},
		{"", false, false},
		{"noat", false, false},
		{"@example.com", false, false},
		{"user@", false, false},
		{".user@example.com", false, false},
		{"user.@example.com", false, false},
		{"us..er@example.com", false, false},
		{"a b@example.com", false, false},
		{"a\"b@example.com", false, false},
		{"a,b@example.com", false, false},
		{"user@exa_mple.com", false, false},
		{"user@-example.com", false, false},
		{"user@example-.com", false, false},
		{"user@example..com", false, false},
		{"user@example.com.", false, false},
		{"user@[300.1.1.1]", false, false},
		{"user@[IPv6:192.0.2.1]", false, false},
		{"user@[192.0.2.1", false, false},
		{"user@[tag:stuff]", false, false},
		{"user@exa\x00mple.com", false, false},
		{"\xff@example.com", false, false},
		{strings.Repeat("a", 65) + "@example.com", false, false},
		{strings.Repeat("a", 64) + "@example.com", true, false},
		{"a@" + strings.Repeat("b", 64) + ".com", false, false},
		{"a@" + strings.Repeat("bbbbbbbbb.", 25) + "com", false, false},
	}
	for _, tt := range tests {
		nonASCII, err := checkAddress(tt.addr)
		if (err == nil) != tt.ok || (err == nil && nonASCII != tt.nonASCII) {
			t.Errorf("checkAddress(%q) = %v, %v; want ok=%v nonASCII=%v", tt.addr, nonASCII, err, tt.ok, tt.nonASCII)
		}
	}
}
