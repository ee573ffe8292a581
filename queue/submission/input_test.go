package submission

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestInputReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int64
		want error
	}{
		{"fine", "Subject: x\r\n\r\nhello\r\n", 0, nil},
		{"empty", "", 0, nil},
		{"bare LF", "Subject: x\r\n\r\nhello\nworld\r\n", 0, replyBareLine},
		{"LF dot LF", "Subject: x\r\n\r\nhello\n.\nMAIL FROM:<x@y>\r\n", 0, replyBareLine},
		{"leading LF", "\nSubject: x\r\n", 0, replyBareLine},
		{"bare CR", "Subject: x\r\n\r\nhello\rworld\r\n", 0, replyBareLine},
		{"CR dot CR", "Subject: x\r\n\r\nhello\r.\rMAIL FROM:<x@y>\r\n", 0, replyBareLine},
		{"CR CR LF", "Subject: x\r\r\n", 0, replyBareLine},
		{"CR at end", "Subject: x\r\n\r", 0, replyBareLine},
		{"at limit", "0123456789\r\n", 12, nil},
		{"over limit", "0123456789\r\n", 11, replyTooBig},
		{"NUL in header", "Subject: \x00x\r\n", 0, replyNUL},
		{"NUL in body", "S: x\r\n\r\n\x00.\r\n", 0, replyNUL},
	}
	for _, tt := range tests {
		// One byte per read, so every check also runs across read
		// boundaries, and whole reads.
		for _, oneByte := range []bool{false, true} {
			var r io.Reader = bytes.NewReader([]byte(tt.in))
			if oneByte {
				r = iotest.OneByteReader(r)
			}
			in := &inputReader{r: r, max: tt.max}
			out, err := io.ReadAll(in)
			if !errors.Is(err, tt.want) {
				t.Errorf("%s (one byte %v): err = %v, want %v", tt.name, oneByte, err, tt.want)
			}
			if tt.want == nil && string(out) != tt.in {
				t.Errorf("%s: passed through %q, want %q", tt.name, out, tt.in)
			}
		}
	}
}

// lineEndOctets is lineEndError's rule stated octet by octet.
func lineEndOctets(prev byte, p []byte) error {
	for _, c := range p {
		if c == 0 {
			return replyNUL
		}
		if (prev == '\r') != (c == '\n') {
			return replyBareLine
		}
		prev = c
	}
	return nil
}

// FuzzLineEnds: inputReader refuses, with the same reply, exactly what the
// octet-by-octet rule refuses, however the stream is cut into reads.
// Seeds: testdata/fuzz/FuzzLineEnds.
func FuzzLineEnds(f *testing.F) {
	f.Add([]byte("Subject: x\r\n\r\nhello\r.\rMAIL\r\n"), []byte{2, 9})
	f.Add([]byte("a\r\x00\r\nb\n\x00"), []byte{0})
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		want := lineEndOctets(0, data)
		if want == nil && len(data) > 0 && data[len(data)-1] == '\r' {
			want = replyBareLine // a CR at the end of the data
		}
		in := &inputReader{r: &splitReader{data: data, cuts: cuts}}
		out, err := io.ReadAll(in)
		if !errors.Is(err, want) && !(want == nil && err == nil) {
			t.Fatalf("err = %v, want %v", err, want)
		}
		if want == nil && !bytes.Equal(out, data) {
			t.Fatalf("passed through %q, want %q", out, data)
		}
	})
}
