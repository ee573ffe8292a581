package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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

// TestScratchBody: a body made by MakeBody for another spool spills to
// its own directory, reads back whole, is refused by a DB that did not
// make it, and Discard removes its file.
func TestScratchBody(t *testing.T) {
	db := openTest(t, "", Options{})
	dir := t.TempDir()
	owner := new(int)
	b := MakeBody("scratch1", BodyOptions{Owner: owner, Dir: dir, InlineMax: 8, MaxSize: 64})
	want := bytes.Repeat([]byte("y"), 40)
	if _, err := b.Write(want); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "scratch1")); err != nil {
		t.Fatalf("spilled body has no file in its directory: %v", err)
	}
	if !b.OwnedBy(owner) || b.OwnedBy(db) {
		t.Error("OwnedBy does not tell the owner")
	}
	m := &Message{From: "a@example.com", Recipients: []Recipient{{Addr: "b@example.org"}}}
	if err := db.Enqueue(context.Background(), m, b); err == nil {
		t.Fatal("DB enqueued a body another spool made")
	}
	r, err := b.Open()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, want) {
		t.Errorf("read back %q", got)
	}
	if _, err := b.Write(bytes.Repeat([]byte("z"), 30)); !errors.Is(err, ErrTooBig) {
		t.Errorf("write past MaxSize: %v, want ErrTooBig", err)
	}
	if err := b.Discard(); err != nil || !b.Done() {
		t.Fatalf("Discard: %v, done %v", err, b.Done())
	}
	if _, err := os.Stat(filepath.Join(dir, "scratch1")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("file left after Discard: %v", err)
	}
}
