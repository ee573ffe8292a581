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
