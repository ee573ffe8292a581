package sevenbit

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-message"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func opener(b []byte) Opener {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

func convert(t *testing.T, in string) (string, bool, error) {
	t.Helper()
	var out bytes.Buffer
	changed, err := Convert(&out, opener([]byte(in)))
	return out.String(), changed, err
}

// crlf turns the readable "\n" of a test case into the wire's CRLF.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// leaves decodes every leaf part of a message (go-message undoes the
// transfer encodings) and returns their bodies in order.
func leaves(t *testing.T, msg string) []string {
	t.Helper()
	e, err := message.Read(strings.NewReader(msg))
	if err != nil && !message.IsUnknownCharset(err) {
		t.Fatalf("read %q: %v", msg, err)
	}
	var out []string
	err = e.Walk(func(_ []int, part *message.Entity, err error) error {
		if err != nil {
			return err
		}
		if mr := part.MultipartReader(); mr != nil {
			return nil
		}
		b, err := io.ReadAll(part.Body)
		if mt, _, _ := part.Header.ContentType(); mt == "message/rfc822" {
			out = append(out, leaves(t, string(b))...) // go-message does not descend
			return err
		}
		out = append(out, string(b))
		return err
	})
	if err != nil {
		t.Fatalf("walk: %v", err)
	}
	return out
}

// compliant fails unless msg is 7-bit with lines of at most 998 octets.
func compliant(t *testing.T, msg string) {
	t.Helper()
	var s Scanner
	s.Write([]byte(msg))
	if r := s.Report(); r.EightBit() || r.LongBodyLine || r.LongHeaderLine {
		t.Errorf("output not 7-bit and short-lined: %+v\n%s", r, msg)
	}
}

func TestConvert(t *testing.T) {
	long := strings.Repeat("abcdefghij", 150) // 1500 octets, one line
	cases := []struct {
		name    string
		in      string
		changed bool
		want    []string // substrings of the output
		absent  []string // substrings the output must not have
	}{
		{name: "7bit unchanged", in: crlf("From: a@example.com\nSubject: hi\n\nplain text\n")},
		{name: "non-MIME utf-8", changed: true, in: crlf("From: a@example.com\n\nViele Grüße aus Köln, wo es heute regnet\n"),
			want: []string{"MIME-Version: 1.0\r\n", "Content-Type: text/plain; charset=utf-8\r\n",
				"Content-Transfer-Encoding: quoted-printable\r\n", "Viele Gr=C3=BC=C3=9Fe aus K=C3=B6ln, wo es heute regnet\r\n"}},
		{name: "non-MIME latin-1", changed: true, in: "From: a@example.com\r\n\r\nK\xf6ln\r\n",
			want: []string{"charset=unknown-8bit", "K=F6ln"}},
		{name: "non-MIME long line", changed: true, in: crlf("From: a@example.com\n\n" + long + "\nend\n"),
			want: []string{"charset=us-ascii", "=\r\n", "\r\nend\r\n"}},
		{name: "single part 8bit", changed: true,
			in:     crlf("From: a@example.com\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\nSubject: s\n\nUn café, s'il vous plaît\n"),
			want:   []string{"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\nSubject: s\r\n\r\nUn caf=C3=A9, s'il vous pla=C3=AEt\r\n"},
			absent: []string{"8bit"}},
		{name: "mostly 8-bit text is base64", changed: true,
			in:   crlf("MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nПривет, мир\n"),
			want: []string{"Content-Transfer-Encoding: base64\r\n", "0J/RgNC40LLQtdGCLCDQvNC40YANCg==\r\n"}},
		{name: "base64 without line breaks rewrapped", changed: true,
			in:   crlf("MIME-Version: 1.0\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n\n" + strings.Repeat("QUJD", 300) + "\n"),
			want: []string{"Content-Transfer-Encoding: base64\r\n" + "\r\n" + strings.Repeat("QUJD", 19) + "\r\n"}},
		{name: "multipart with a 100,000-octet line", changed: true,
			in: crlf("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/html\n\n" +
				strings.Repeat("<b>x</b> ", 11111) + "\n--b--\n"),
			want: []string{"Content-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<b>x</b> <b>"}},
		{name: "opaque encoding left alone", in: crlf("MIME-Version: 1.0\nContent-Transfer-Encoding: x-uuencode\n\n\xff\n")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, changed, err := convert(t, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if changed != tc.changed {
				t.Errorf("changed = %v, want %v", changed, tc.changed)
			}
			if !changed && out != tc.in {
				t.Errorf("unchanged message altered:\n%q\n%q", tc.in, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(out, a) {
					t.Errorf("output has %q:\n%s", a, out)
				}
			}
			if changed {
				compliant(t, out)
				if got, want := leaves(t, out), leaves(t, tc.in); !equal(got, want) {
					t.Errorf("decoded content differs:\n got %q\nwant %q", got, want)
				}
			}
		})
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestConvertGolden converts the multipart messages in testdata/*.eml and
// compares with the .golden files: 8-bit and long-lined parts re-encoded,
// 7-bit parts byte for byte as they were, composite parts relabelled.
func TestConvertGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.eml")
	if len(files) == 0 {
		t.Fatal("no testdata/*.eml")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			in := crlf(string(raw))
			out, changed, err := convert(t, in)
			if err != nil || !changed {
				t.Fatalf("changed %v, err %v", changed, err)
			}
			compliant(t, out)
			if got, want := leaves(t, out), leaves(t, in); !equal(got, want) {
				t.Errorf("decoded content differs:\n got %q\nwant %q", got, want)
			}
			golden := strings.TrimSuffix(f, ".eml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if out != string(want) {
				t.Errorf("output differs from %s:\n%s", golden, out)
			}
			// Converting the 7-bit form again changes nothing.
			again, changed, err := convert(t, out)
			if err != nil || changed || again != out {
				t.Errorf("second conversion: changed %v, err %v", changed, err)
			}
		})
	}
}

func TestConvertErrors(t *testing.T) {
	long := strings.Repeat("x", 1000)
	cases := []struct {
		name string
		in   string
		want error
	}{
		{"long header line", crlf("Subject: " + long + "\n\nbody é\n"), ErrLongHeaderLine},
		{"long part header line", crlf("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nX-Long: " + long + "\n\né\n--b--\n"), ErrLongHeaderLine},
		{"multipart without its closing boundary", crlf("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\né\n"), ErrMalformed},
		{"multipart without boundaries", crlf("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\né\n"), ErrMalformed},
		{"too deep", crlf(strings.Repeat("MIME-Version: 1.0\nContent-Type: message/rfc822\n\n", maxDepth+2) + "é\n"), ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := convert(t, tc.in)
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestScanner(t *testing.T) {
	long := strings.Repeat("x", 999)
	cases := []struct {
		in   string
		want Report
	}{
		{"A: b\r\n\r\nbody\r\n", Report{}},
		{"A: b\r\nC: d\r\n", Report{}},
		{"A: é\r\n\r\nbody\r\n", Report{HeaderEightBit: true}},
		{"A: b\r\n\r\nbodé\r\n", Report{BodyEightBit: true}},
		{"A: " + long + "\r\n\r\n", Report{LongHeaderLine: true}},
		{"A: b\r\n\r\n" + long + "\r\n", Report{LongBodyLine: true}},
		{"A: b\r\n\r\n" + long[:998] + "\r\n", Report{}},
	}
	for _, tc := range cases {
		// Byte by byte and in one write give the same report.
		var one, each Scanner
		one.Write([]byte(tc.in))
		for i := range len(tc.in) {
			each.Write([]byte{tc.in[i]})
		}
		if one.Report() != tc.want || each.Report() != tc.want {
			t.Errorf("%.40q: %+v / %+v, want %+v", tc.in, one.Report(), each.Report(), tc.want)
		}
	}
}
