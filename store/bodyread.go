package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// Open reads back what was written to a body not yet enqueued, from its
// first byte, without holding it in memory a second time: the inline
// buffer is read in place, a spilled body from its file. The listener uses
// it to re-encode a message it already spooled (a second pass over the
// body rather than buffering it). Writes after Open are not allowed while
// the reader is in use.
func (b *Body) Open() (io.ReadCloser, error) {
	switch {
	case b.err != nil:
		return nil, b.err
	case b.done:
		return nil, errors.New("store: Open of a body already enqueued or discarded")
	case b.f == nil:
		return io.NopCloser(bytes.NewReader(b.buf.Bytes())), nil
	}
	f, err := os.Open(b.path())
	if err != nil {
		return nil, fmt.Errorf("store: read back body %s: %w", b.id, err)
	}
	return f, nil
}
