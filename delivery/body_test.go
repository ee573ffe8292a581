package delivery

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestOpenBody: an 8-bit body goes to a server without 8BITMIME in its
// 7-bit form, made on the fly; to one with 8BITMIME, or when 7-bit, as
// stored; a body whose structure cannot be converted goes as stored; a
// read error of the stored body reaches the reader.
func TestOpenBody(t *testing.T) {
	eight := "From: a@example.com\r\nSubject: s\r\n\r\nDer Bäcker backt Brötchen für alle\r\n"
	broken := "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\nno parts \xff\r\n"
	tests := []struct {
		name     string
		stored   string
		eightBit bool
		has8bit  bool
		want     string // "" : the stored bytes
	}{
		{"8-bit to a server with 8BITMIME", eight, true, true, ""},
		{"7-bit to a server without", "Subject: s\r\n\r\nplain\r\n", false, false, ""},
		{"8-bit to a server without", eight, true, false,
			"From: a@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n" +
				"Content-Transfer-Encoding: quoted-printable\r\n\r\nDer B=C3=A4cker backt Br=C3=B6tchen f=C3=BCr alle\r\n"},
		{"unconvertible to a server without", broken, true, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := &Envelope{EightBit: tt.eightBit, Body: func() (io.ReadCloser, error) {
				return io.NopCloser(strings.NewReader(tt.stored)), nil
			}}
			r, err := openBody(env, tt.has8bit)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			want := tt.want
			if want == "" {
				want = tt.stored
			}
			if err != nil || string(got) != want {
				t.Errorf("got %q, %v\nwant %q", got, err, want)
			}
		})
	}

	failing := errors.New("disk gone")
	env := &Envelope{EightBit: true, Body: func() (io.ReadCloser, error) {
		return io.NopCloser(io.MultiReader(strings.NewReader(eight[:20]), &errorReader{failing})), nil
	}}
	r, err := openBody(env, false)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(io.Discard, r); n != 0 || !errors.Is(err, failing) {
		t.Errorf("read %d bytes, error %v; want 0, %v", n, err, failing)
	}
	// A reader closed early (the connection failed) does not block.
	env.Body = func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(bytes.Repeat([]byte(eight), 10000))), nil
	}
	r, _ = openBody(env, false)
	_, _ = r.Read(make([]byte, 10))
	r.Close()
}

type errorReader struct{ err error }

func (e *errorReader) Read([]byte) (int, error) { return 0, e.err }
