package sevenbit

import (
	"io"
	"runtime"
	"strings"
	"testing"
)

// genReader yields a header, left octets of 8-bit text and a tail, without
// holding the message in memory.
type genReader struct {
	head, tail string
	line       string
	left       int
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.head != "" {
		n := copy(p, g.head)
		g.head = g.head[n:]
		return n, nil
	}
	if g.left <= 0 {
		if g.tail == "" {
			return 0, io.EOF
		}
		n := copy(p, g.tail)
		g.tail = g.tail[n:]
		return n, nil
	}
	n := 0
	for n+len(g.line) <= len(p) && g.left > 0 {
		n += copy(p[n:], g.line)
		g.left -= len(g.line)
	}
	if n == 0 { // p shorter than a line
		n = copy(p, g.line[:min(len(p), len(g.line))])
		g.left -= n
	}
	return n, nil
}

func (g *genReader) Close() error { return nil }

// heapWatcher discards what is written and samples the heap every MiB.
type heapWatcher struct {
	n, next int
	peak    uint64
}

func (h *heapWatcher) Write(p []byte) (int, error) {
	h.n += len(p)
	if h.n >= h.next {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		h.peak = max(h.peak, ms.HeapAlloc)
		h.next = h.n + 1<<20
	}
	return len(p), nil
}

// TestConvertMemory: converting a 25 MiB 8-bit message keeps the heap
// within a few MiB of where it started: nothing is buffered whole.
func TestConvertMemory(t *testing.T) {
	const size = 25 << 20
	open := func() (io.ReadCloser, error) {
		return &genReader{
			head: "From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
			line: strings.Repeat("Grüße aus Köln, ", 4) + "\r\n",
			tail: "--b--\r\n",
			left: size,
		}, nil
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	w := &heapWatcher{}
	changed, err := Convert(w, open)
	if err != nil || !changed {
		t.Fatalf("changed %v, err %v", changed, err)
	}
	if w.n < size {
		t.Fatalf("wrote %d octets, want at least %d", w.n, size)
	}
	if grew := int64(w.peak) - int64(base); grew > 8<<20 {
		t.Errorf("heap grew by %d MiB converting a %d MiB message", grew>>20, size>>20)
	}
}
