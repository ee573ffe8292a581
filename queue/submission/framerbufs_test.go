package submission

import (
	"io"
	"testing"
	"time"
)

// blockingReader blocks every Read until release is closed.
type blockingReader struct {
	started chan struct{}
	release chan struct{}
}

func (b *blockingReader) Read(p []byte) (int, error) {
	close(b.started)
	<-b.release
	return 0, io.EOF
}

// TestFramerRelease: released buffers are never used again by their
// framer, and a framer being read from (a connection closed from another
// goroutine) keeps them.
func TestFramerRelease(t *testing.T) {
	limit := 0
	f := newFramer(&splitReader{data: []byte("NOOP\r\n")}, &limit, "h", maxCommandLine, 0, nil)
	p := make([]byte, 64)
	if n, err := f.Read(p); string(p[:n]) != "NOOP\r\n" || err != nil {
		t.Fatalf("Read = %q, %v", p[:n], err)
	}
	b := f.release()
	if b == nil || cap(b.in) != framerBuf || cap(b.out) != 2*framerBuf {
		t.Fatalf("release = %+v", b)
	}
	if f.release() != nil {
		t.Fatal("released twice")
	}
	if n, err := f.Read(p); n != 0 || err != io.EOF {
		t.Fatalf("Read after release = %d, %v", n, err)
	}

	// The next framer takes them over.
	g := newFramer(&splitReader{data: []byte("RSET\r\n")}, &limit, "h", maxCommandLine, 0, b)
	if n, err := g.Read(p); string(p[:n]) != "RSET\r\n" || err != nil || &g.in[:1][0] != &b.in[:1][0] {
		t.Fatalf("Read with reused buffers = %q, %v", p[:n], err)
	}

	br := &blockingReader{started: make(chan struct{}), release: make(chan struct{})}
	h := newFramer(br, &limit, "h", maxCommandLine, 0, nil)
	done := make(chan error, 1)
	go func() {
		_, err := h.Read(p)
		done <- err
	}()
	<-br.started
	if h.release() != nil {
		t.Fatal("buffers taken from under a Read in progress")
	}
	close(br.release)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not return")
	}
	if h.released || cap(h.in) != framerBuf {
		t.Fatal("framer lost its buffers")
	}
}
