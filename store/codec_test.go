package store

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"
)

func sampleMessage() *Message {
	no := false
	return &Message{
		From:        "app@example.org",
		Size:        4096,
		Received:    t0,
		Client:      "[::1]:5555",
		User:        "app",
		AtLeastOne:  &no,
		DSNPending:  true,
		SMTPUTF8:    true,
		DelayWarned: true,
		DSNID:       "0123456789abc",
		Recipients: []Recipient{
			{Addr: "a@example.com", State: StateQueued},
			{Addr: "ü@exämple.net", State: StateDeferred, Attempts: 3, LastReply: "451 4.7.1 greylisted",
				NextAttempt: t0.Add(time.Hour),
				History: []Attempt{
					{Time: t0.Add(time.Minute), Host: "mx[192.0.2.1]:25", TLS: "TLS1.3", Code: 451,
						Enhanced: "4.7.1", Reply: "greylisted", Result: StateDeferred},
					{Time: t0.Add(2 * time.Minute), Host: "mx[192.0.2.2]:25", TLS: "none", Reply: "connection refused", Result: StateDeferred},
				}},
		},
	}
}

func TestCodecRoundTrip(t *testing.T) {
	tests := []*Message{{}, sampleMessage(), {Recipients: []Recipient{{Addr: "x", State: StateBounced}}},
		{Signed: []string{"example.com/rsa (rsa-sha256)", "example.com/ed (ed25519-sha256)"}, Recipients: []Recipient{{Addr: "y"}}},
		{BodyType: Body8BitMIME, EnvID: "env-1", Ret: RetHdrs, Signed: []string{"s"},
			Recipients: []Recipient{{Addr: "a"}, {Addr: "b", Notify: NotifySuccess | NotifyFailure, ORcpt: "rfc822;B@example.com"}}},
		{BodyType: Body7Bit, Recipients: []Recipient{{Addr: "c", Notify: NotifyNever}}},
		{DeliverAfter: t0.Add(time.Hour), ExpireAt: t0.Add(48 * time.Hour), Tags: []string{"welcome", ""},
			Metadata: map[string]string{"user": "42", "": "empty key"}, Recipients: []Recipient{{Addr: "d"}}},
		{TLSReq: TLSReqRequire, Recipients: []Recipient{{Addr: "e"}, {Addr: "f", History: []Attempt{
			{Time: t0, TLS: "TLS1.3 TLS_AES_128_GCM_SHA256 verified", Result: StateDelivered,
				TLSInfo: AttemptTLS{VerifiedBy: "mta-sts", Policy: "mta-sts enforce example.com"}},
			{Time: t0, Result: StateDeferred, TLSInfo: AttemptTLS{Failure: "validation-failure: mx.example.net"}},
			{Time: t0, Result: StateDeferred}}}}},
		{TLSReq: TLSReqOptional, Recipients: []Recipient{{Addr: "g"}}}}
	for i, m := range tests {
		got, err := DecodeMessage(EncodeMessage(m))
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if !reflect.DeepEqual(normalize(got), normalize(m)) {
			t.Errorf("%d: round trip\n got %+v\nwant %+v", i, got, m)
		}
	}
}

// A record that uses no tagged field is encoded as before the tagged
// section existed, so older builds read it.
func TestCodecTaggedOnlyWhenSet(t *testing.T) {
	m := sampleMessage()
	if b := EncodeMessage(m); b[0] != recordV1 || len(b) == 0 {
		t.Fatal("bad record")
	}
	plain := EncodeMessage(m)
	m.EnvID = "x"
	tagged := EncodeMessage(m)
	if len(tagged) <= len(plain) {
		t.Fatalf("EnvID not encoded: %d vs %d bytes", len(tagged), len(plain))
	}
	m.EnvID = ""
	for name, set := range map[string]func(*Message){
		"DeliverAfter": func(m *Message) { m.DeliverAfter = t0.Add(time.Minute) },
		"ExpireAt":     func(m *Message) { m.ExpireAt = t0.Add(time.Hour) },
		"Tags":         func(m *Message) { m.Tags = []string{"t"} },
		"Metadata":     func(m *Message) { m.Metadata = map[string]string{"k": "v"} },
		"TLSReq":       func(m *Message) { m.TLSReq = TLSReqRequire },
		"TLSInfo": func(m *Message) {
			r := slices.Clone(m.Recipients)
			r[1].History = slices.Clone(r[1].History)
			r[1].History[0].TLSInfo.VerifiedBy = "webpki"
			m.Recipients = r
		},
	} {
		c := *m
		set(&c)
		if got := EncodeMessage(&c); len(got) <= len(plain) {
			t.Errorf("%s not encoded", name)
		}
	}
	if got := EncodeMessage(m); string(got) != string(plain) {
		t.Fatal("a record without tagged fields changed its encoding")
	}
	bad := append(append([]byte{}, tagged...), 9) // unknown tag after the known one
	if _, err := DecodeMessage(bad); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("unknown tag: err = %v, want ErrCorrupt", err)
	}
}

func TestDecodeMessageCorrupt(t *testing.T) {
	good := EncodeMessage(sampleMessage())
	tests := map[string][]byte{
		"empty":           nil,
		"unknown version": append([]byte{9}, good[1:]...),
		"truncated":       good[:len(good)-3],
		"trailing":        append(append([]byte(nil), good...), 0),
		"huge count":      {1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"empty signed":    {1, 0, 0, 0, 0, 0, 0, 16, 0, 0},
		"unknown flag":    {1, 0, 0, 0, 0, 0, 0, 64, 0},
		"empty tags":      {1, 0, 0, 0, 0, 0, 0, 64, 0, tagTags, 0},
		"repeated key":    {1, 0, 0, 0, 0, 0, 0, 64, 0, tagMetadata, 2, 1, 'k', 0, 1, 'k', 0},
		"TLSReq zero":     {1, 0, 0, 0, 0, 0, 0, 64, 0, tagTLSReq, 0},
		"TLSReq unknown":  {1, 0, 0, 0, 0, 0, 0, 64, 0, tagTLSReq, 3},
		"TLSInfo count":   {1, 0, 0, 0, 0, 0, 0, 64, 0, tagTLSInfo, 1},
	}
	for name, b := range tests {
		if _, err := DecodeMessage(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}

// FuzzDecodeMessage: decoding never panics, and whatever decodes re-encodes
// to a record that decodes to the same message.
func FuzzDecodeMessage(f *testing.F) {
	f.Add(EncodeMessage(sampleMessage()))
	f.Add(EncodeMessage(&Message{}))
	f.Add([]byte{1})
	f.Add(EncodeMessage(&Message{DeliverAfter: t0, ExpireAt: t0.Add(time.Hour), Tags: []string{"a"},
		Metadata: map[string]string{"k": "v"}, Recipients: []Recipient{{Addr: "x"}}}))
	f.Add(EncodeMessage(&Message{Signed: []string{"example.com/s (ed25519-sha256)"}}))
	f.Add(EncodeMessage(&Message{TLSReq: TLSReqRequire, Recipients: []Recipient{{Addr: "x", History: []Attempt{
		{Time: t0, TLSInfo: AttemptTLS{VerifiedBy: "dane", Policy: "dane enforce x", Failure: "tlsa-invalid"}}}}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		m2, err := DecodeMessage(EncodeMessage(m))
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if !reflect.DeepEqual(normalize(m), normalize(m2)) {
			t.Fatalf("round trip differs:\n%+v\n%+v", m, m2)
		}
	})
}

func BenchmarkCodec(b *testing.B) {
	m := sampleMessage()
	rec := EncodeMessage(m)
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			EncodeMessage(m)
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(rec)))
		for b.Loop() {
			DecodeMessage(rec)
		}
	})
}
