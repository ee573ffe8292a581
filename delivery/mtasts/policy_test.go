package mtasts

import (
	"errors"
	"testing"
	"time"
)

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		name, text string
		want       *Policy // nil: invalid
	}{
		{"enforce CRLF", "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n",
			&Policy{Mode: ModeEnforce, MX: []string{"mail.example.com", "*.example.net"}, MaxAge: 604800 * time.Second}},
		{"testing LF, unknown key ignored", "version: STSv1\nmode: testing\nmx: MX.Example.COM.\nmax_age: 86400\nextension: x\n",
			&Policy{Mode: ModeTesting, MX: []string{"mx.example.com"}, MaxAge: 86400 * time.Second}},
		{"none without mx", "version: STSv1\nmode: none\nmax_age: 86400\n", &Policy{Mode: ModeNone, MaxAge: 86400 * time.Second}},
		{"wrong version", "version: STSv2\nmode: enforce\nmx: a\nmax_age: 1\n", nil},
		{"no version", "mode: enforce\nmx: a\nmax_age: 1\n", nil},
		{"unknown mode", "version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n", nil},
		{"enforce without mx", "version: STSv1\nmode: enforce\nmax_age: 1\n", nil},
		{"no max_age", "version: STSv1\nmode: enforce\nmx: a\n", nil},
		{"max_age too large", "version: STSv1\nmode: enforce\nmx: a\nmax_age: 31557601\n", nil},
		{"max_age negative", "version: STSv1\nmode: enforce\nmx: a\nmax_age: -1\n", nil},
		{"mode twice", "version: STSv1\nmode: enforce\nmode: testing\nmx: a\nmax_age: 1\n", nil},
		{"inner wildcard", "version: STSv1\nmode: enforce\nmx: mail.*.example.com\nmax_age: 1\n", nil},
		{"no colon", "version: STSv1\nmode enforce\n", nil},
		{"HTML page", "<html><body>hello</body></html>", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePolicy(tt.text)
			if tt.want == nil {
				if !errors.Is(err, ErrInvalidPolicy) {
					t.Fatalf("got %+v, %v; want ErrInvalidPolicy", p, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Mode != tt.want.Mode || p.MaxAge != tt.want.MaxAge || len(p.MX) != len(tt.want.MX) {
				t.Fatalf("got %+v, want %+v", p, tt.want)
			}
			for i := range p.MX {
				if p.MX[i] != tt.want.MX[i] {
					t.Fatalf("mx %v, want %v", p.MX, tt.want.MX)
				}
			}
		})
	}
}

func TestPolicyMatches(t *testing.T) {
	p := &Policy{MX: []string{"mail.example.com", "*.example.net"}}
	for host, want := range map[string]bool{
		"mail.example.com":      true,
		"MAIL.example.com.":     true,
		"mx1.example.net":       true,
		"example.net":           false, // the wildcard needs one label
		"a.b.example.net":       false, // and only one (RFC 8461 §4.1)
		"mail.example.com.evil": false,
		"other.example.com":     false,
	} {
		if got := p.Matches(host); got != want {
			t.Errorf("Matches(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestParseRecord(t *testing.T) {
	tests := []struct {
		txt     string
		id      string
		ok, err bool
	}{
		{"v=STSv1; id=20160831085700Z;", "20160831085700Z", true, false},
		{"v=STSv1;id=abc", "abc", true, false},
		{"v=spf1 -all", "", false, false},
		{"v=STSv1; id=has-dash;", "", true, true},
		{"v=STSv1;", "", true, true},
	}
	for _, tt := range tests {
		id, ok, err := ParseRecord(tt.txt)
		if id != tt.id || ok != tt.ok || (err != nil) != tt.err {
			t.Errorf("ParseRecord(%q) = %q, %v, %v", tt.txt, id, ok, err)
		}
	}
}

// FuzzParsePolicy: a policy from the network never panics the parser, and
// what parses holds the RFC's bounds.
func FuzzParsePolicy(f *testing.F) {
	f.Add("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n")
	f.Add("version: STSv1\nmode: none\nmax_age: 0\n")
	f.Add("version: STSv1\nmode: testing\nmx: *.\nmax_age: 9999999999\n")
	f.Add("version: STSv1\nmode: testing\nmx: mx.example\nmax_age: 9999999999\n") // overflows a Duration
	f.Fuzz(func(t *testing.T, text string) {
		p, err := ParsePolicy(text)
		if err != nil {
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("error %v does not wrap ErrInvalidPolicy", err)
			}
			return
		}
		if p.MaxAge < 0 || p.MaxAge > MaxMaxAge || (p.Mode != ModeNone && len(p.MX) == 0) {
			t.Fatalf("out of bounds: %+v", p)
		}
		p.Matches("mx.example.com")
		p.Matches(text)
	})
}
