package store

import "testing"

func TestDomain(t *testing.T) {
	for _, c := range []struct{ addr, want string }{
		{"user@example.com", "example.com"},
		{"User@Example.COM", "example.com"},
		{"user@example.com.", "example.com"},
		{"user@EXAMPLE.com.", "example.com"},
		{`"a@b"@example.com`, "example.com"},
		{`"a@b.example"@Other.Example`, "other.example"},
		{"user@[192.0.2.1]", "[192.0.2.1]"},
		{"user@[IPv6:2001:DB8::1]", "[ipv6:2001:db8::1]"},
		{"user@Bücher.Example", "bücher.example"},
		{"user@xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"postmaster", ""},
		{"", ""},
		{"user@", ""},
		{"user@.", ""},
	} {
		if got := Domain(c.addr); got != c.want {
			t.Errorf("Domain(%q) = %q, want %q", c.addr, got, c.want)
		}
	}
}

func TestFilterDomainMatchesLikeDomain(t *testing.T) {
	m := &Message{Recipients: []Recipient{{Addr: "a@Example.COM.", State: StateQueued}}}
	for _, d := range []string{"example.com", "EXAMPLE.COM", "example.com."} {
		f := Filter{Domain: d}
		if !f.Match(m) {
			t.Errorf("Filter{Domain: %q} does not match a@Example.COM.", d)
		}
	}
	if f := (Filter{Domain: "example.org"}); f.Match(m) {
		t.Error("Filter{Domain: example.org} matches a@Example.COM.")
	}
}
