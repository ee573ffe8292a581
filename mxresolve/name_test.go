package mxresolve

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"example.com", "example.com", true},
		{"Example.COM.", "example.com", true},
		{"bücher.example", "xn--bcher-kva.example", true},
		{"BÜCHER.example", "xn--bcher-kva.example", true},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", true},
		{"例え.テスト", "xn--r8jz45g.xn--zckzah", true},
		{"", "", false},
		{".", "", false},
		{"a..b", "", false},
		{"ex ample.com\x00", "", false},
		{"\xff.example", "", false},
	}
	for _, tt := range tests {
		got, ok := normalize(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("normalize(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestAddressLiteral(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" when not a literal
	}{
		{"[192.0.2.1]", "192.0.2.1"},
		{"[IPv6:2001:db8::1]", "2001:db8::1"},
		{"[ipv6:::1]", "::1"},
		{"[2001:db8::1]", ""}, // RFC 5321 §4.1.3 requires the IPv6: tag
		{"[IPv6:192.0.2.1]", ""},
		{"[IPv6:fe80::1%eth0]", ""},
		{"192.0.2.1", ""},
		{"[example.com]", ""},
		{"[192.0.2.1", ""},
	}
	for _, tt := range tests {
		a, ok := addressLiteral(tt.in)
		if tt.want == "" {
			if ok {
				t.Errorf("addressLiteral(%q) = %v, want not a literal", tt.in, a)
			}
			continue
		}
		if !ok || a != netip.MustParseAddr(tt.want) {
			t.Errorf("addressLiteral(%q) = %v, %v; want %s", tt.in, a, ok, tt.want)
		}
	}
}

func TestIsIPTarget(t *testing.T) {
	for in, want := range map[string]bool{
		"192.0.2.1": true, "[192.0.2.1]": true, "2001:db8::1": true,
		"mx.example.com": false, "1.example": false, "": false,
	} {
		if got := isIPTarget(in); got != want {
			t.Errorf("isIPTarget(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestExtract(t *testing.T) {
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	tests := []struct {
		name      string
		ans       []dns.RR
		wantN     int
		wantFinal string
	}{
		{"direct", []dns.RR{rr("a.test. A 192.0.2.1"), rr("a.test. A 192.0.2.2")}, 2, "a.test."},
		{"case differs", []dns.RR{rr("A.TEST. A 192.0.2.1")}, 1, "a.test."},
		{"chain", []dns.RR{rr("b.test. CNAME c.test."), rr("a.test. CNAME B.test."), rr("c.test. A 192.0.2.3")}, 1, "c.test."},
		{"chain without data", []dns.RR{rr("a.test. CNAME b.test.")}, 0, "b.test."},
		{"other owner ignored", []dns.RR{rr("z.test. A 192.0.2.9")}, 0, "a.test."},
		{"loop", []dns.RR{rr("a.test. CNAME b.test."), rr("b.test. CNAME a.test.")}, 0, "b.test."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, final := extract(tt.ans, "a.test.", dns.TypeA)
			if len(got) != tt.wantN || final != tt.wantFinal {
				t.Errorf("extract = %d records at %q, want %d at %q", len(got), final, tt.wantN, tt.wantFinal)
			}
		})
	}
}

func TestIsHostname(t *testing.T) {
	long := strings.Repeat("a", 63)
	for in, want := range map[string]bool{
		"example.com": true, "a-b.c_d.e1": true, long + ".test": true,
		long + "a.test": false, strings.Repeat(long+".", 4) + "test": false,
		"a..b": false, "a b.test": false, "a\\.b.test": false, "A.test": false, "": false,
	} {
		if got := isHostname(in); got != want {
			t.Errorf("isHostname(%q) = %v, want %v", in, got, want)
		}
	}
}
