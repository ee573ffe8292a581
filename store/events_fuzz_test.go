package store

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
	"time"
)

// FuzzDecodeEvent: an event entry never panics the decoder, a bad one is
// ErrCorrupt, and whatever decodes re-encodes to an entry that decodes
// alike.
func FuzzDecodeEvent(f *testing.F) {
	seed := func(e Event) []byte {
		v, err := encodeEvent(&e)
		if err != nil {
			f.Fatal(err)
		}
		return v
	}
	f.Add(uint64(7), seed(Event{Time: time.Unix(1700000000, 5), Type: EventBounced, QueueID: "33lg2fev4guiu",
		MessageID: "<m@x>", From: "a@example.com", Recipient: "b@example.net", Reply: Reply{550, "5.1.1", "no"},
		RemoteHost: "mx[192.0.2.1]:25", TLS: "none", Attempt: 2, Class: ClassRemote5xx, NextAttempt: time.Unix(1700000600, 0),
		Tags: []string{"t"}, Metadata: map[string]string{"k": "v"}, User: "key:app"}))
	f.Add(uint64(1), seed(Event{}))
	f.Add(uint64(0), []byte{eventV1})
	f.Fuzz(func(t *testing.T, seq uint64, v []byte) {
		k := binary.BigEndian.AppendUint64(nil, seq)
		e, err := decodeEvent(k, v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		v2, err := encodeEvent(&e)
		if err != nil {
			t.Fatalf("a decoded event does not encode: %v", err)
		}
		e2, err := decodeEvent(k, v2)
		if err != nil {
			t.Fatalf("re-encoded event does not decode: %v", err)
		}
		if !reflect.DeepEqual(normalizeEvent(e), normalizeEvent(e2)) {
			t.Fatalf("round trip differs:\n%+v\n%+v", e, e2)
		}
	})
}

// normalizeEvent makes times comparable with DeepEqual.
func normalizeEvent(e Event) Event {
	e.Time, e.NextAttempt = e.Time.UTC(), e.NextAttempt.UTC()
	// An empty list or map encodes as none: nil and empty are the same
	// event (JSON "tags":[] and a missing field).
	if len(e.Tags) == 0 {
		e.Tags = nil
	}
	if len(e.Metadata) == 0 {
		e.Metadata = nil
	}
	return e
}
