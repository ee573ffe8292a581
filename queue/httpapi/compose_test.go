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
		cte := p.header.Get("Content-Transfer-Encoding")
		p = leaf("text/plain", map[string]string{"charset": "utf-8"}, []byte(crlf(s)))
		p.header.Set("Content-Transfer-Encoding", cte)
		if err := writePart(&want, p.header, p, nil); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("text %q:\n%q\nwant:\n%q", s, got.Bytes(), want.Bytes())
		}
	})
}

// TestTextEncoding: text that is 7bit data already (RFC 2045 §2.7) is
// written as it is and labelled 7bit; 8-bit octets, NUL, a line over 998
// octets, a line ending in white space or a bare CR make it
// quoted-printable.
func TestTextEncoding(t *testing.T) {
	long := strings.Repeat("x", maxLine)
	for _, c := range []struct {
		name, text, cte string
	}{
		{"ascii", "Hello,\r\nsee you.\r\n", "7bit"},
		{"bare LF", "a\nb\r\nc\n", "7bit"},
		{"DEL and controls", "a\x7fb\x01\x1b", "7bit"},
		{"bare CR", "a\rb", "quoted-printable"},
		{"space before CRLF", "a \r\n", "quoted-printable"},
		{"998 octets", long + "\r\n" + long, "7bit"},
		{"equals sign", "a=b <p class=\"x\">", "7bit"},
		{"8-bit", "Grüße\r\n", "quoted-printable"},
		{"NUL", "a\x00b", "quoted-printable"},
		{"999 octets", long + "x\r\n", "quoted-printable"},
		{"999 octets last line", "a\n" + long + "x", "quoted-printable"},
		{"trailing space", "a \r\nb", "quoted-printable"},
		{"trailing tab at end", "a\t", "quoted-printable"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := text("text/plain", c.text)
			var b bytes.Buffer
			if err := writePart(&b, p.header, p, make([]byte, 64)); err != nil {
				t.Fatal(err)
			}
			head, body, _ := strings.Cut(b.String(), "\r\n\r\n")
			if want := "Content-Transfer-Encoding: " + c.cte + "\r\n"; !strings.Contains(head+"\r\n", want) {
				t.Errorf("header %q, want %q", head, want)
			}
			if c.cte == "7bit" && body != crlf(c.text) {
				t.Errorf("body %q, want the text as it is: %q", body, crlf(c.text))
			}
		})
	}
}
