package store

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// FuzzDecodeBounce: a bounce log row never panics the decoder, a bad one is
// ErrCorrupt, and whatever decodes re-encodes to a row that decodes alike.
func FuzzDecodeBounce(f *testing.F) {
	f.Add(encodeBounce(&Bounce{Time: time.Unix(1700000000, 5), MsgID: "33lg2fev4guiu", From: "a@example.com",
		Rcpt: "b@example.net", Host: "mx.example.net[192.0.2.1]:25", Code: 550, Enhanced: "5.1.1",
		Diag: "no such user", Attempts: 3}))
	f.Add(encodeBounce(&Bounce{}))
	f.Add([]byte{bounceV1})
	f.Fuzz(func(t *testing.T, v []byte) {
		b, err := decodeBounce(v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		b2, err := decodeBounce(encodeBounce(&b))
		if err != nil {
			t.Fatalf("re-encoded row does not decode: %v", err)
		}
		if !b.Time.Equal(b2.Time) {
			t.Fatalf("time %v became %v", b.Time, b2.Time)
		}
		b.Time, b2.Time = time.Time{}, time.Time{}
		if b != b2 {
			t.Fatalf("round trip differs:\n%+v\n%+v", b, b2)
		}
	})
}

// FuzzDecodeQuarantined: a quarantine entry never panics the decoder, a bad
// one is ErrCorrupt, and the raw record it keeps is its own copy.
func FuzzDecodeQuarantined(f *testing.F) {
	seed := appendString(appendTime([]byte{quarantineV1}, time.Unix(1700000000, 0)), "store: corrupt record: truncated")
	f.Add(append(seed, 1, 2, 3))
	f.Add([]byte{quarantineV1})
	f.Fuzz(func(t *testing.T, v []byte) {
		in := bytes.Clone(v)
		q, err := decodeQuarantined("id", v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if !bytes.HasSuffix(in, q.Raw) {
			t.Fatalf("raw record %x is not the tail of the entry %x", q.Raw, in)
		}
		for i := range v {
			v[i] ^= 0xff
		}
		if len(q.Raw) > 0 && !bytes.HasSuffix(in, q.Raw) {
			t.Fatal("the decoded raw record aliases the entry's bytes")
		}
	})
}
