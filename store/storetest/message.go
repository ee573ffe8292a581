package storetest

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// testEnqueueRoundTrip: what Enqueue stores, Get and OpenBody return,
// from an empty body to 25 MiB, in memory or spilled while streaming.
func testEnqueueRoundTrip(t *testing.T, opener Opener) {
	yes := true
	sizes := []struct {
		name string
		size int
	}{{"empty", 0}, {"4KiB", 4 << 10}, {"at InlineMax", 64 << 10}, {"over InlineMax", 64<<10 + 1}, {"25MiB", 25 << 20}}
	db := open(opener, Options{InlineMax: 64 << 10})
	for i, tt := range sizes {
		t.Run(tt.name, func(t *testing.T) {
			body := pattern(tt.size, byte(i))
			m := &store.Message{
				From:       "app@example.org",
				Recipients: rcpts("a@example.com", "b@Example.NET"),
				Client:     "127.0.0.1:4242",
				User:       "app",
				AtLeastOne: &yes,
				Tags:       []string{"t1"},
				Metadata:   map[string]string{"k": "v"},
			}
			id := enqueue(t, db, m, body)
			got, err := db.Get(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			want := *m
			want.Received = T0
			if !reflect.DeepEqual(normalize(got), normalize(&want)) {
				t.Errorf("Get = %+v\nwant %+v", got, &want)
			}
			if got.Size != int64(tt.size) {
				t.Errorf("Size = %d, want %d", got.Size, tt.size)
			}
			if data := readBody(t, db, id); !bytes.Equal(data, body) {
				t.Errorf("body differs: got %d bytes, want %d", len(data), len(body))
			}
		})
	}
}

// testBodyDiscard: a discarded body cannot be enqueued.
func testBodyDiscard(t *testing.T, opener Opener) {
	db := open(opener, Options{InlineMax: 16})
	b, _ := db.NewBody()
	if _, err := b.Write(pattern(100, 1)); err != nil {
		t.Fatal(err)
	}
	if err := b.Discard(); err != nil {
		t.Fatal(err)
	}
	if err := db.Enqueue(context.Background(), &store.Message{Recipients: rcpts("x@y")}, b); err == nil {
		t.Error("Enqueue of a discarded body succeeded")
	}
	if ms, _ := db.List(context.Background(), store.Filter{Done: true}); len(ms) != 0 {
		t.Errorf("%d messages stored", len(ms))
	}
}

func testMaxBodySize(t *testing.T, opener Opener) {
	db := open(opener, Options{MaxBodySize: 10})
	b, _ := db.NewBody()
	defer b.Discard()
	if _, err := b.Write(make([]byte, 11)); !errors.Is(err, store.ErrTooBig) {
		t.Errorf("Write past MaxBodySize: %v, want ErrTooBig", err)
	}
}

// testIDsSortableAndUnique: IDs increase, even when the clock steps back,
// and IDTime reads their time.
func testIDsSortableAndUnique(t *testing.T, opener Opener) {
	now := T0
	db := open(opener, Options{Now: func() time.Time { return now }})
	var prev string
	for i := range 100 {
		if i == 50 {
			now = now.Add(-time.Hour) // the clock steps back
		}
		b, _ := db.NewBody()
		id := b.ID()
		b.Discard()
		if _, ok := store.IDTime(id); !ok || id <= prev {
			t.Fatalf("ID %d = %q after %q: want a store ID, increasing", i, id, prev)
		}
		prev = id
	}
	if ts, ok := store.IDTime(prev); !ok || ts.Sub(T0) > time.Millisecond || ts.Before(T0.Add(-time.Microsecond)) {
		t.Errorf("IDTime(%s) = %v, %v; want about %v", prev, ts, ok, T0)
	}
}

func testDelete(t *testing.T, opener Opener) {
	ctx := context.Background()
	db := open(opener, Options{InlineMax: 100})
	for _, size := range []int{10, 1000} {
		id := enqueue(t, db, &store.Message{Recipients: rcpts("a@b")}, pattern(size, 0))
		if err := db.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Get(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get after Delete: %v, want ErrNotFound", err)
		}
		if _, err := db.OpenBody(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("OpenBody after Delete: %v, want ErrNotFound", err)
		}
		if err := db.Delete(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second Delete: %v, want ErrNotFound", err)
		}
	}
	if ids, _ := db.Due(ctx, T0.Add(time.Hour), 0, nil); len(ids) != 0 {
		t.Errorf("due entries left after Delete: %v", ids)
	}
}

// testCancelledContext: an Enqueue whose ctx ended before it started
// stores nothing and says so.
func testCancelledContext(t *testing.T, opener Opener) {
	db := open(opener, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b, _ := db.NewBody()
	b.Write([]byte("x"))
	if err := db.Enqueue(ctx, &store.Message{Recipients: rcpts("a@b")}, b); !errors.Is(err, context.Canceled) {
		t.Errorf("Enqueue with cancelled ctx: %v", err)
	}
	if ms, _ := db.List(context.Background(), store.Filter{Done: true}); len(ms) != 0 {
		t.Errorf("a cancelled Enqueue stored %d messages", len(ms))
	}
}

// testPrefix: a Message.Prefix is returned before the body by OpenBody,
// counted in Size, kept out of the record, and removed with the message.
func testPrefix(t *testing.T, opener Opener) {
	prefix := []byte("DKIM-Signature: v=1; a=ed25519-sha256; d=example.com;\r\n b=abc\r\n")
	bodies := []struct {
		name   string
		body   []byte
		prefix []byte
	}{
		{"small", []byte("Subject: hi\r\n\r\nsmall\r\n"), prefix},
		{"large", pattern(200<<10, 3), prefix},
		{"no prefix", []byte("Subject: plain\r\n\r\n"), nil},
	}
	db := open(opener, Options{InlineMax: 64 << 10})
	ctx := context.Background()
	for _, tt := range bodies {
		t.Run(tt.name, func(t *testing.T) {
			m := &store.Message{From: "a@example.com", Recipients: rcpts("b@example.net"), Prefix: tt.prefix,
				Signed: []string{"example.com/sel (ed25519-sha256)"}}
			id := enqueue(t, db, m, tt.body)
			want := append(bytes.Clone(tt.prefix), tt.body...)
			if got := readBody(t, db, id); !bytes.Equal(got, want) {
				t.Errorf("OpenBody = %d bytes, want %d", len(got), len(want))
			}
			got, err := db.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if got.Size != int64(len(want)) || got.Prefix != nil || len(got.Signed) != 1 || got.Signed[0] != m.Signed[0] {
				t.Errorf("Get: Size %d (want %d), Prefix %q (want none), Signed %q", got.Size, len(want), got.Prefix, got.Signed)
			}
			if err := db.Delete(ctx, id); err != nil {
				t.Fatal(err)
			}
			if _, err := db.OpenBody(ctx, id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("OpenBody after Delete: %v, want ErrNotFound", err)
			}
		})
	}
}

// testProbe: a working spool accepts an empty commit.
func testProbe(t *testing.T, opener Opener) {
	db := open(opener, Options{})
	if err := db.Probe(context.Background()); err != nil {
		t.Errorf("Probe: %v", err)
	}
}
