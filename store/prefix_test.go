package store

import (
	"bytes"
	"context"
	"errors"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestPrefix: a Message.Prefix is returned before the body by OpenBody,
// counted in Size, kept out of the record, and removed with the message —
// for inline and file bodies alike.
func TestPrefix(t *testing.T) {
	prefix := []byte("DKIM-Signature: v=1; a=ed25519-sha256; d=example.com;\r\n b=abc\r\n")
	tests := []struct {
		name string
		body []byte
	}{
		{"inline", []byte("Subject: hi\r\n\r\nsmall\r\n")},
		{"file", pattern(200<<10, 3)},
		{"no prefix", []byte("Subject: plain\r\n\r\n")},
	}
	db := openTest(t, "", Options{InlineMax: 64 << 10})
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := prefix
			if tt.name == "no prefix" {
				p = nil
			}
			m := &Message{From: "a@example.com", Recipients: rcpts("b@example.net"), Prefix: p,
				Signed: []string{"example.com/sel (ed25519-sha256)"}}
			id := enqueue(t, db, m, tt.body)
			want := append(bytes.Clone(p), tt.body...)
			if got := readBody(t, db, id); !bytes.Equal(got, want) {
				t.Errorf("OpenBody = %d bytes starting %q, want %d bytes starting %q", len(got), got[:min(len(got), 40)], len(want), want[:40])
			}
			got, err := db.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if got.Size != int64(len(want)) {
				t.Errorf("Size = %d, want %d", got.Size, len(want))
			}
			if got.Prefix != nil {
				t.Errorf("Get returned Prefix %q, want it kept out of the record", got.Prefix)
			}
			if len(got.Signed) != 1 || got.Signed[0] != m.Signed[0] {
				t.Errorf("Signed = %q, want %q", got.Signed, m.Signed)
			}
			if err := db.Delete(ctx, id); err != nil {
				t.Fatal(err)
			}
			if _, err := db.OpenBody(ctx, id); !errors.Is(err, ErrNotFound) {
				t.Errorf("OpenBody after Delete: %v, want ErrNotFound", err)
			}
			err = db.view(ctx, func(tx *bolt.Tx) error {
				if v := bucket(tx, bucketPrefixes).Get([]byte(id)); v != nil {
					t.Errorf("prefix of %s left after Delete", id)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
