package dsn

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestCleanHeaders(t *testing.T) {
	long := strings.Repeat("a", 2500)
	tests := []struct {
		name      string
		raw       string
		want      string
		truncated bool
	}{
		{"crlf kept", "A: 1\r\nB: 2\r\n", "A: 1\r\nB: 2\r\n", false},
		{"bare LF normalized", "A: 1\nB: 2\n", "A: 1\r\nB: 2\r\n", false},
		{"no final newline", "A: 1\nB: 2", "A: 1\r\nB: 2\r\n", false},
		{"body cut off", "A: 1\r\n\r\nbody\r\nmore\r\n", "A: 1\r\n", false},
		{"body cut off with LF", "A: 1\n\nbody\n", "A: 1\r\n", false},
		{"continuations kept", "A: 1\r\n\tmore\r\n  and more\r\n", "A: 1\r\n\tmore\r\n  and more\r\n", false},
		{"stray CR and NUL are spaces", "A: x\ry\x00z\r\n", "A: x y z\r\n", false},
		{"invalid UTF-8 replaced", "A: \xff\xfe\r\n", "A: \uFFFD\r\n", false}, // a run of bad octets is one U+FFFD,
		{"UTF-8 kept", "Subject: Grüße\r\n", "Subject: Grüße\r\n", false},
		{"empty", "", "", false},
		{"starts with the body separator", "\r\nbody", "", false},
		{"long line split into continuations", "X: " + long + "\r\n",
			("X: " + long)[:998] + "\r\n " + ("X: " + long)[998:1995] + "\r\n " + ("X: " + long)[1995:] + "\r\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, truncated := CleanHeaders([]byte(tt.raw))
			if string(got) != tt.want || truncated != tt.truncated {
				t.Errorf("CleanHeaders(%q) = %q, %v; want %q, %v", tt.raw, got, truncated, tt.want, tt.truncated)
			}
			if err := checkLines(append([]byte("x\r\n"), got...)); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestCleanHeadersCap(t *testing.T) {
	var raw bytes.Buffer
	for i := 0; raw.Len() < 2*MaxHeaderBytes; i++ {
		raw.WriteString("Received: from relay" + strings.Repeat("x", 60) + "\r\n\tby next.example; id 12345\r\n")
	}
	got, truncated := CleanHeaders(raw.Bytes())
	if !truncated {
		t.Fatal("not reported as truncated")
	}
	if len(got) > MaxHeaderBytes || len(got) < MaxHeaderBytes-200 {
		t.Fatalf("kept %d octets, want just under %d", len(got), MaxHeaderBytes)
	}
	// Cut at a field boundary: the kept part is a prefix made of whole fields.
	if !bytes.HasPrefix(raw.Bytes(), got) || !bytes.HasSuffix(got, []byte("id 12345\r\n")) {
		t.Errorf("cut inside a field: ends %q", got[len(got)-40:])
	}

	// One field longer than the cap on its own is dropped whole.
	huge := "Subject: " + strings.Repeat("y ", MaxHeaderBytes)
	got, truncated = CleanHeaders([]byte("From: a@b\r\n" + huge + "\r\nTo: c@d\r\n"))
	if string(got) != "From: a@b\r\n" || !truncated {
		t.Errorf("got %d octets, truncated %v; want only the From field", len(got), truncated)
	}
}

// endless is a body that never ends: ReadHeaders must stop on its own.
type endless struct{ read int }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'b'
	}
	e.read += len(p)
	return len(p), nil
}

func TestReadHeaders(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"stops at the empty line", "A: 1\r\nB: 2\r\n\r\nbody\r\n", "A: 1\r\nB: 2\r\n"},
		{"LF message", "A: 1\n\nbody\n", "A: 1\n"},
		{"no body", "A: 1\r\n", "A: 1\r\n"},
		{"no final newline", "A: 1", "A: 1"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadHeaders(strings.NewReader(tt.in))
			if err != nil || string(got) != tt.want {
				t.Errorf("ReadHeaders(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}

	t.Run("bounded on a huge header", func(t *testing.T) {
		body := &endless{}
		got, err := ReadHeaders(io.MultiReader(strings.NewReader("A: "), body))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > MaxHeaderBytes+maxLine+2 || body.read > MaxHeaderBytes+maxLine+2+4096 {
			t.Errorf("read %d octets, returned %d: not bounded", body.read, len(got))
		}
		if _, truncated := CleanHeaders(got); !truncated {
			t.Error("CleanHeaders does not report the cut")
		}
	})

	t.Run("error wrapped", func(t *testing.T) {
		_, err := ReadHeaders(io.MultiReader(strings.NewReader("A: 1\r\n"), errReader{}))
		if err == nil || !errors.Is(err, io.ErrClosedPipe) {
			t.Errorf("err = %v, want io.ErrClosedPipe wrapped", err)
		}
	})
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrClosedPipe }
