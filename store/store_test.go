package store

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"reflect"
	"testing"
	"time"
)

func TestEnqueueRoundTrip(t *testing.T) {
	yes := true
	tests := []struct {
		name     string
		size     int
		wantFile bool
	}{
		{"empty", 0, false},
		{"4KiB", 4 << 10, false},
		{"at InlineMax", 64 << 10, false},
		{"over InlineMax", 64<<10 + 1, true},
		{"25MiB", 25 << 20, true},
	}
	db := openTest(t, "", Options{InlineMax: 64 << 10})
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := pattern(tt.size, byte(i))
			m := &Message{
				From:       "app@example.org",
				Recipients: rcpts("a@example.com", "b@Example.NET"),
				Client:     "127.0.0.1:4242",
				User:       "app",
				AtLeastOne: &yes,
			}
			id := enqueue(t, db, m, body)
			got, err := db.Get(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			want := *m
			want.Received = t0
			if !reflect.DeepEqual(normalize(got), normalize(&want)) {
				t.Errorf("Get = %+v\nwant %+v", got, &want)
			}
			if got.Size != int64(tt.size) {
				t.Errorf("Size = %d, want %d", got.Size, tt.size)
			}
			if data := readBody(t, db, id); string(data) != string(body) {
				t.Errorf("body differs: got %d bytes, want %d", len(data), len(body))
			}
			_, err = os.Stat(db.bodyPath(id))
			if gotFile := err == nil; gotFile != tt.wantFile {
				t.Errorf("body file exists = %v, want %v", gotFile, tt.wantFile)
			}
		})
	}
}

// normalize makes times comparable with DeepEqual.
func normalize(m *Message) *Message {
	c := *m
	c.Received = c.Received.UTC()
	c.DeliverAfter = c.DeliverAfter.UTC()
	c.ExpireAt = c.ExpireAt.UTC()
	c.Recipients = append([]Recipient(nil), m.Recipients...)
	for i := range c.Recipients {
		r := &c.Recipients[i]
		r.NextAttempt = r.NextAttempt.UTC()
		if r.NextAttempt.Equal(time.Time{}) {
			r.NextAttempt = time.Time{}
		}
		r.History = append([]Attempt(nil), r.History...)
		for j := range r.History {
			r.History[j].Time = r.History[j].Time.UTC()
		}
		if len(r.History) == 0 {
			r.History = nil
		}
	}
	return &c
}

func TestBodyDiscardAndReuse(t *testing.T) {
	db := openTest(t, "", Options{InlineMax: 16})
	b, _ := db.NewBody()
	if _, err := b.Write(pattern(100, 1)); err != nil {
		t.Fatal(err)
	}
	path := db.bodyPath(b.ID())
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("spilled body file missing: %v", err)
	}
	if err := b.Discard(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Discard left %s: %v", path, err)
	}
	if err := db.Enqueue(context.Background(), &Message{Recipients: rcpts("x@y")}, b); err == nil {
		t.Error("Enqueue of a discarded body succeeded")
	}
}

func TestIDsSortableAndUnique(t *testing.T) {
	now := t0
	db := openTest(t, "", Options{Now: func() time.Time { return now }})
	var prev string
	for i := range 100 {
		if i == 50 {
			now = now.Add(-time.Hour) // the clock steps back
		}
		b, _ := db.NewBody()
		id := b.ID()
		b.Discard()
		if len(id) != idLen || id <= prev {
			t.Fatalf("ID %d = %q after %q: want %d chars, increasing", i, id, prev, idLen)
		}
		prev = id
	}
	if ts, ok := IDTime(prev); !ok || ts.Sub(t0) > time.Millisecond || ts.Before(t0) {
		t.Errorf("IDTime(%s) = %v, %v; want about %v", prev, ts, ok, t0)
	}
	if _, ok := IDTime("not-an-id"); ok {
		t.Error("IDTime accepted garbage")
	}
}

func TestIDsKeepIncreasingAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	later := t0.Add(time.Hour)
	db := openTest(t, dir, Options{Now: func() time.Time { return later }})
	id1 := enqueue(t, db, &Message{Recipients: rcpts("a@b")}, []byte("x"))
	db.Close()
	db = openTest(t, dir, Options{}) // clock now at t0: an hour earlier
	b, _ := db.NewBody()
	defer b.Discard()
	if b.ID() <= id1 {
		t.Errorf("ID after reopen %s <= %s", b.ID(), id1)
	}
}

func TestDelete(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, "", Options{InlineMax: 100})
	for _, size := range []int{10, 1000} {
		id := enqueue(t, db, &Message{Recipients: rcpts("a@b")}, pattern(size, 0))
		if err := db.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Get(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get after Delete: %v, want ErrNotFound", err)
		}
		if _, err := db.OpenBody(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("OpenBody after Delete: %v, want ErrNotFound", err)
		}
		if _, err := os.Stat(db.bodyPath(id)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("body file of %s left behind: %v", id, err)
		}
		if err := db.Delete(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("second Delete: %v, want ErrNotFound", err)
		}
	}
	if ids, _ := db.Due(ctx, t0.Add(time.Hour), 0, nil); len(ids) != 0 {
		t.Errorf("due entries left after Delete: %v", ids)
	}
}

func TestClosed(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, "", Options{})
	id := enqueue(t, db, &Message{Recipients: rcpts("a@b")}, []byte("x"))
	b, _ := db.NewBody()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Enqueue(ctx, &Message{Recipients: rcpts("a@b")}, b); !errors.Is(err, ErrClosed) {
		t.Errorf("Enqueue after Close: %v", err)
	}
	if _, err := db.Get(ctx, id); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
