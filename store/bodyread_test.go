package store

import (
	"bytes"
	"io"
	"testing"
)

// TestBodyOpenReadsBack: a body not yet enqueued reads back exactly what
// was written, inline and spilled to a file alike.
func TestBodyOpenReadsBack(t *testing.T) {
	db := openTest(t, "", Options{InlineMax: 64})
	for _, size := range []int{10, int(db.opts.InlineMax) + 10} {
		b, err := db.NewBody()
		if err != nil {
			t.Fatal(err)
		}
		want := bytes.Repeat([]byte("x"), size)
		if _, err := b.Write(want); err != nil {
			t.Fatal(err)
		}
		r, err := b.Open()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("size %d: read back %d bytes, err %v", size, len(got), err)
		}
		_ = b.Discard()
		if _, err := b.Open(); err == nil {
			t.Error("Open after Discard succeeded")
		}
	}
}
