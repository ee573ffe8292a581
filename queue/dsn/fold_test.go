package dsn

import (
	"bytes"
	"strings"
	"testing"
)

func TestWriteField(t *testing.T) {
	tests := []struct {
		name, field, value, want string
	}{
		{"short", "Action", "failed", "Action: failed\r\n"},
		{"folds before a space", "Diagnostic-Code",
			"smtp; 550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown",
			"Diagnostic-Code: smtp; 550 5.1.1 <bob@example.net>: Recipient address\r\n rejected: User unknown\r\n"},
		{"long word not split under the hard limit", "To", "<" + strings.Repeat("a", 100) + "@example.com>",
			"To: <" + strings.Repeat("a", 100) + "@example.com>\r\n"},
		{"double spaces survive folding", "X", strings.Repeat("ab  ", 30),
			"X: ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab \r\n ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  ab  \r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			writeField(&b, tt.field, tt.value)
			if got := b.String(); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestWriteFieldLimits checks the invariants on awkward values: no line over
// maxLine, no line of only white space, and unfolding (RFC 5322 §2.2.3:
// removing each CRLF) gives the value back unless a word had to be split.
func TestWriteFieldLimits(t *testing.T) {
	values := []string{
		strings.Repeat("x", 5000),
		strings.Repeat("é", 2000),
		strings.Repeat("word ", 1000),
		"a" + strings.Repeat(" ", 200) + "b",
		strings.Repeat("界", 400) + " " + strings.Repeat("y", 77),
	}
	for _, v := range values {
		var b bytes.Buffer
		writeField(&b, "Diagnostic-Code", v)
		out := b.String()
		if err := checkLines([]byte(out)); err != nil {
			t.Errorf("value of %d octets: %v", len(v), err)
		}
		for _, line := range strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n") {
			if strings.TrimSpace(line) == "" {
				t.Errorf("value of %d octets: a line of only white space", len(v))
			}
		}
		unfolded := strings.TrimPrefix(strings.ReplaceAll(out, "\r\n", ""), "Diagnostic-Code: ")
		if squash(unfolded) != squash(v) {
			t.Errorf("value of %d octets changed by folding", len(v))
		}
		if !strings.Contains(v, strings.Repeat("x", 1000)) && !strings.Contains(v, strings.Repeat("é", 500)) &&
			!strings.Contains(v, strings.Repeat("界", 400)) && unfolded != v {
			t.Errorf("value of %d octets: unfolded %q", len(v), unfolded)
		}
	}
}

func TestWrapText(t *testing.T) {
	var b bytes.Buffer
	wrapText(&b, "    ", "one two three four five six seven", 20)
	if want := "    one two three\r\n    four five six\r\n    seven\r\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	b.Reset()
	wrapText(&b, "  ", "a "+strings.Repeat("ü", 1200)+" b", 72)
	if err := checkLines(b.Bytes()); err != nil {
		t.Error(err)
	}
	if got := strings.Join(strings.Fields(b.String()), ""); got != "a"+strings.Repeat("ü", 1200)+"b" {
		t.Errorf("content lost in wrapping: %q", got)
	}
}

func TestClean(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"550 5.1.1 ok", 100, "550 5.1.1 ok"},
		{"  a\r\n b\tc\x00d\x7fe ", 100, "a b c d e"},
		{"bad \xc3 utf8", 100, "bad \uFFFD utf8"},
		{"c1 \u0085 and \u2028", 100, "c1 and"},
		{strings.Repeat("z", 20), 10, strings.Repeat("z", 7) + "..."},
		{"ab" + strings.Repeat("é", 10), 10, "abéé..."}, // never cuts inside a rune
	}
	for _, tt := range tests {
		if got := clean(tt.in, tt.max); got != tt.want {
			t.Errorf("clean(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}
