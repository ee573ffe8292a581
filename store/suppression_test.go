package store

import (
	"testing"
)

func TestNormalizeAddress(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"ann@example.com", "ann@example.com"},
		{"ann@EXAMPLE.Com", "ann@example.com"},
		{"ann@example.com.", "ann@example.com"},
		{"<ann@example.com>", "ann@example.com"},
		{" ann@example.com ", "ann@example.com"},
		// The local part is the destination's to interpret (RFC 5321 §2.4).
		{"Ann@example.com", "Ann@example.com"},
		{"ann+tag@example.com", "ann+tag@example.com"},
		{"a.nn@example.com", "a.nn@example.com"},
		// Needless quotes are not part of the mailbox (RFC 5321 §4.1.2).
		{`"ann"@example.com`, "ann@example.com"},
		{`"a.nn"@Example.com`, "a.nn@example.com"},
		{`"a nn"@example.com`, `"a nn"@example.com`},
		{`"a@b"@example.com`, `"a@b"@example.com`},
		{`"a..b"@example.com`, `"a..b"@example.com`},
		{"ann@[192.0.2.1]", "ann@[192.0.2.1]"},
		{"ann@bücher.example", "ann@bücher.example"},
		{"ann@BÜCHER.example", "ann@bücher.example"},
		{"ann", ""},
		{"@example.com", ""},
		{"ann@", ""},
		{"ann@.", ""},
	} {
		if got := NormalizeAddress(tt.in); got != tt.want {
			t.Errorf("NormalizeAddress(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
