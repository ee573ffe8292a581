package submission

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/emersion/go-smtp"
)

// runFramer reads src through a framer the way go-smtp and the session do
// (every DATA accepted) and returns what go-smtp would see, the error that
// ended it, and the DATA framing verdicts.
func runFramer(src io.Reader) (out []byte, err error, violations int) {
	limit := 2000
	f := newFramer(src, &limit, "outbox.test", maxCommandLine, 0, nil)
	buf := make([]byte, 512)
	for {
		if f.mode == modePending {
			f.dataBegins()
		}
		n, rerr := f.Read(buf)
		out = append(out, buf[:n]...)
		if limit != 0 {
			return out, errors.New("go-smtp's line limit left on"), 0
		}
		if f.takeViolation() != nil {
			violations++
		}
		if rerr != nil {
			return out, rerr, violations
		}
	}
}

// splitReader returns in's bytes in pieces cut at the offsets in cuts.
type splitReader struct {
	data []byte
	cuts []byte
}

func (s *splitReader) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	n := len(s.data)
	if len(s.cuts) > 0 {
		n = min(n, int(s.cuts[0])+1)
		s.cuts = s.cuts[1:]
	}
	n = copy(p, s.data[:n])
	s.data = s.data[n:]
	return n, nil
}

// FuzzFramerSegmentation: what go-smtp sees, and every verdict, are the
// same however the client's bytes are split into reads.
func FuzzFramerSegmentation(f *testing.F) {
	long := bytes.Repeat([]byte("L"), 3000)
	for _, seed := range [][]byte{
		[]byte("EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nSubject: x\r\n\r\n..hi\r\n.\r\nQUIT\r\n"),
		[]byte("DATA\r\nx\r\n.\rX\r\nMAIL FROM:<evil@x.y>\r\n.\r\nNOOP\r\n"),
		[]byte("DATA\r\nx\r\n.\r\r\n.\r\nNOOP\r\n"),
		append(append([]byte("BDAT 3002 LAST\r\n"), long...), "\r\nNOOP\r\n"...),
		append(append([]byte("DATA\r\n"), long...), "\r\n.\r\nNOOP\r\n"...),
		[]byte("AUTH PLAIN !!!\r\nNOOP\r\n"),
		append([]byte("NOOP "), bytes.Repeat([]byte("x"), 2100)...),
	} {
		f.Add(seed, []byte{3, 0, 200, 7})
	}
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		whole, werr, wv := runFramer(bytes.NewReader(data))
		split, serr, sv := runFramer(&splitReader{data: data, cuts: cuts})
		one, oerr, ov := runFramer(iotest.OneByteReader(bytes.NewReader(data)))
		if !bytes.Equal(whole, split) || !bytes.Equal(whole, one) {
			t.Fatalf("output depends on segmentation:\nwhole %q\nsplit %q\nbytes %q", whole, split, one)
		}
		if !errors.Is(serr, werr) || !errors.Is(oerr, werr) || wv != sv || wv != ov {
			t.Fatalf("verdicts depend on segmentation: %v/%v/%v, violations %d/%d/%d", werr, serr, oerr, wv, sv, ov)
		}
	})
}

func TestFramerRules(t *testing.T) {
	tests := []struct {
		name, in, out string
		violation     bool
		err           error
	}{
		{"dot CR X ends at the client's CRLF.CRLF", "DATA\r\nhi\r\n.\rX\r\nMAIL\r\n.\r\nNOOP\r\n",
			"DATA\r\nhi\r\n.\r\nNOOP\r\n", true, io.EOF},
		{"line-based end after dot CR", "DATA\r\nhi\r\n.\r\r\n.\r\nNOOP\r\n", "DATA\r\nhi\r\n.\r\nNOOP\r\n", true, io.EOF},
		{"bare LF mid-line", "DATA\r\nab\ncd\r\n.\r\n", "DATA\r\nab\r\n.\r\n", true, io.EOF},
		{"clean", "DATA\r\n..x\r\n.\r\n", "DATA\r\n..x\r\n.\r\n", false, io.EOF},
		{"long BDAT chunk", "BDAT 2500 LAST\r\n" + string(bytes.Repeat([]byte("L"), 2500)),
			"BDAT 2500 LAST\r\n" + string(bytes.Repeat([]byte("L"), 2500)), false, io.EOF},
		{"long command", "NOOP " + string(bytes.Repeat([]byte("x"), 2000)) + "\r\n", "", false, smtp.ErrTooLongLine},
	}
	for _, tt := range tests {
		out, err, v := runFramer(bytes.NewReader([]byte(tt.in)))
		if string(out) != tt.out || (v > 0) != tt.violation || !errors.Is(err, tt.err) {
			t.Errorf("%s: got %q, violation %v, %v; want %q, %v, %v", tt.name, out, v > 0, err, tt.out, tt.violation, tt.err)
		}
	}
}
