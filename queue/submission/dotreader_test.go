package submission

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// dataReaderSession hands the type of go-smtp's DATA reader to got.
type dataReaderSession struct{ got chan<- reflect.Type }

func (dataReaderSession) Reset()                                        {}
func (dataReaderSession) Logout() error                                 { return nil }
func (dataReaderSession) Mail(string, *smtp.MailOptions) error          { return nil }
func (dataReaderSession) Rcpt(string, *smtp.RcptOptions) error          { return nil }
func (s dataReaderSession) Data(r io.Reader) error                      { s.got <- reflect.TypeOf(r); return nil }
func (s dataReaderSession) NewSession(*smtp.Conn) (smtp.Session, error) { return s, nil }

// goDataReaderType returns the type of go-smtp's own DATA reader, taken
// from a session of a plain go-smtp server, so that tests can run the
// reference implementation dotReader must match.
func goDataReaderType(t testing.TB) reflect.Type {
	t.Helper()
	got := make(chan reflect.Type, 1)
	srv := smtp.NewServer(dataReaderSession{got: got})
	srv.Domain, srv.AllowInsecureAuth = "ref.test", true
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	c, err := smtp.Dial(l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("a@x.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("b@x.test", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(w, "Subject: x\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case typ := <-got:
		return typ
	case <-time.After(10 * time.Second):
		t.Fatal("no DATA reader")
		return nil
	}
}

// segmentReader returns at most n octets per Read, as a network would.
type segmentReader struct {
	r io.Reader
	n int
}

func (s *segmentReader) Read(p []byte) (int, error) {
	return s.r.Read(p[:min(len(p), s.n)])
}

// dotRun is the outcome of reading DATA content from a stream.
type dotRun struct {
	out   []byte
	err   error
	rest  []byte // what the buffered reader still yields afterwards
	state int
}

// readDots reads in with go-smtp's DATA reader of type typ, except that
// the first switchAt octets (when mine) are read by a dotReader sharing
// its state, as Data does before go-smtp drains a refused message. The
// stream arrives in segments of seg octets, into a buffer of bufSize,
// read in calls of step octets.
func readDots(t *testing.T, typ reflect.Type, in []byte, mine bool, switchAt, seg, bufSize, step int) dotRun {
	t.Helper()
	br := bufio.NewReaderSize(&segmentReader{r: bytes.NewReader(in), n: seg}, bufSize)
	ref := reflect.New(typ.Elem())
	rf, err := field(ref, "r")
	if err != nil {
		t.Fatal(err)
	}
	rf.Set(reflect.ValueOf(br))
	goReader := ref.Interface().(io.Reader)
	buf, state, err := dataStateOf(goReader)
	if err != nil {
		t.Fatal(err)
	}
	var run dotRun
	var r io.Reader = goReader
	if mine {
		r = &dotReader{r: buf, state: state}
	}
	p := make([]byte, step)
	for {
		if mine && len(run.out) >= switchAt {
			r = goReader
		}
		n, err := r.Read(p)
		run.out = append(run.out, p[:n]...)
		if err != nil {
			run.err = err
			break
		}
		if n == 0 && len(p) > 0 {
			t.Fatal("Read returned 0, nil")
		}
	}
	run.rest, _ = io.ReadAll(br)
	run.state = *state
	return run
}

// TestDotReader checks dotReader against go-smtp's DATA reader on the
// cases that matter to SMTP: dot-stuffing, the end line, bare CR and LF,
// and streams cut short.
func TestDotReader(t *testing.T) {
	typ := goDataReaderType(t)
	for _, in := range []string{
		"Subject: x\r\n\r\nbody\r\n.\r\nMAIL FROM:<a@b>\r\n",
		"..leading dot\r\n.\r\n",
		".\r\n",
		"a\n.\nb\r\n.\r\n",
		"a\r.\rb\r\n.\r\n",
		"x\r\n.\rY\r\n.\r\n",
		"\r\r\n.\r\n",
		"x\r\n..\r\n.x\r\n.\r\n",
		"cut short\r\n",
		"cut after dot\r\n.",
		"cut after dot CR\r\n.\r",
		"",
	} {
		for _, seg := range []int{1, 3, 4096} {
			want := readDots(t, typ, []byte(in), false, 0, seg, 16, 7)
			got := readDots(t, typ, []byte(in), true, 1<<30, seg, 16, 7)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%q seg %d:\n got %+v\nwant %+v", in, seg, got, want)
			}
		}
	}
	got := readDots(t, typ, []byte("a\r\n..b\r\n.\r\nNEXT"), true, 1<<30, 4096, 16, 64)
	if string(got.out) != "a\r\n.b\r\n" || got.err != io.EOF || string(got.rest) != "NEXT" {
		t.Errorf("unstuffing: %+v", got)
	}
}

// TestDotReaderError: a read error reaches the caller as go-smtp's reader
// reports it (io.EOF as io.ErrUnexpectedEOF, others unchanged).
func TestDotReaderError(t *testing.T) {
	boom := errors.New("boom")
	state := dotBeginLine
	d := &dotReader{r: bufio.NewReader(io.MultiReader(strings.NewReader("ab"), errReader{boom})), state: &state}
	out, err := io.ReadAll(d)
	if string(out) != "ab" || !errors.Is(err, boom) {
		t.Fatalf("got %q, %v", out, err)
	}
	state = dotBeginLine
	d = &dotReader{r: bufio.NewReader(strings.NewReader("ab")), state: &state}
	if _, err := io.ReadAll(d); err != io.ErrUnexpectedEOF {
		t.Fatalf("end of stream: %v", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// FuzzDotReader: on any stream, segmentation, buffer size and read size,
// dotReader yields what go-smtp's DATA reader yields, ends with the same
// error, consumes exactly as much of the buffered reader and leaves the
// same state; and go-smtp's reader takes over from it mid-stream (as it
// does for a refused message) with the same result.
// Seeds: testdata/fuzz/FuzzDotReader.
func FuzzDotReader(f *testing.F) {
	typ := goDataReaderType(f)
	f.Add([]byte("Subject: x\r\n\r\nbody\r\n..x\r\n.\r\nQUIT\r\n"), uint16(5), uint8(3), uint8(0), uint8(7))
	f.Add([]byte("a\n.\nb\r.\rc\r\n.\rX\r\n.\r\n"), uint16(0), uint8(1), uint8(16), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, switchAt uint16, seg, bufSize, step uint8) {
		s, b, p := int(seg%64)+1, int(bufSize)+16, int(step%100)+1
		want := readDots(t, typ, in, false, 0, s, b, p)
		got := readDots(t, typ, in, true, 1<<30, s, b, p)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("dotReader:\n got %+v\nwant %+v", got, want)
		}
		handed := readDots(t, typ, in, true, int(switchAt), s, b, p)
		if !reflect.DeepEqual(handed, want) {
			t.Fatalf("handed over at %d:\n got %+v\nwant %+v", switchAt, handed, want)
		}
	})
}

// BenchmarkDotReader reads a 4 KiB message of 78-octet lines through
// go-smtp's DATA reader ("gosmtp") and through dotReader ("runs").
//
//	go test -run '^$' -bench DotReader -benchmem ./queue/submission
func BenchmarkDotReader(b *testing.B) {
	typ := goDataReaderType(b)
	msg := []byte("Subject: bench\r\n\r\n" + strings.Repeat(strings.Repeat("x", 78)+"\r\n", 51) + ".\r\n")
	for _, mine := range []bool{false, true} {
		name := "gosmtp"
		if mine {
			name = "runs"
		}
		b.Run(name, func(b *testing.B) {
			src := bytes.NewReader(msg)
			br := bufio.NewReader(src)
			ref := reflect.New(typ.Elem())
			rf, err := field(ref, "r")
			if err != nil {
				b.Fatal(err)
			}
			rf.Set(reflect.ValueOf(br))
			var r io.Reader = ref.Interface().(io.Reader)
			_, state, err := dataStateOf(r)
			if err != nil {
				b.Fatal(err)
			}
			if mine {
				r = &dotReader{r: br, state: state}
			}
			p := make([]byte, 4096)
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				src.Reset(msg)
				br.Reset(src)
				*state = dotBeginLine
				for {
					if _, err := r.Read(p); err != nil {
						break
					}
				}
			}
		})
	}
}
