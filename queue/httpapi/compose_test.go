package httpapi

import (
	"bytes"
	"strings"
	"testing"
)

// crlf is the conversion of every line end to CRLF (RFC 5322 §2.3)
// written plainly, against which writeText is checked.
func crlf(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}

// FuzzTextLineEnds: a text part written by writeText, through a chunk of
// any size, is byte for byte the part the text converted by crlf makes.
func FuzzTextLineEnds(f *testing.F) {
	for _, s := range []string{"a\nb", "a\r\nb", "a\rb", "a\r\r\nb", "\n\r\n\r", "x \r\n", "t\t\n", "=\r", "end\r",
		"Grüße\n", strings.Repeat("y", 76) + "\r\n" + strings.Repeat("z", 75) + " \n"} {
		f.Add(s, uint8(3))
	}
	f.Fuzz(func(t *testing.T, s string, size uint8) {
		var got, want bytes.Buffer
		p := text("text/plain", s)
		if err := writePart(&got, p.header, p, make([]byte, int(size)%64+1)); err != nil {
			t.Fatal(err)
		}
		p = leaf("text/plain", map[string]string{"charset": "utf-8"}, []byte(crlf(s)))
		if err := writePart(&want, p.header, p, nil); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("text %q:\n%q\nwant:\n%q", s, got.Bytes(), want.Bytes())
		}
	})
}
