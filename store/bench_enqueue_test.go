package store_test

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/store"
	"github.com/outbox-mta/outbox/store/storetest"
)

// enqueueLoad is storetest.Load on a bbolt spool in a temporary directory
// whose bodies up to inlineMax bytes are kept inside the file.
func enqueueLoad(b *testing.B, inlineMax int64, size, writers int) {
	db, err := store.Open(b.TempDir(), store.Options{InlineMax: inlineMax, Now: time.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	storetest.Load(b, db, size, writers)
}

func BenchmarkEnqueue4KiB(b *testing.B) {
	for _, mode := range []struct {
		name      string
		inlineMax int64
	}{{"inline", store.DefaultInlineMax}, {"file", -1}} {
		for _, w := range []int{1, 8, 32} {
			b.Run(fmt.Sprintf("%s/writers=%d", mode.name, w), func(b *testing.B) {
				enqueueLoad(b, mode.inlineMax, 4<<10, w)
			})
		}
	}
}

// BenchmarkEnqueueSize compares inline and file bodies around the candidate
// InlineMax values, with 8 writers.
func BenchmarkEnqueueSize(b *testing.B) {
	for _, size := range []int{64 << 10, 128 << 10, 256 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKiB/inline", size>>10), func(b *testing.B) { enqueueLoad(b, 32<<20, size, 8) })
		b.Run(fmt.Sprintf("%dKiB/file", size>>10), func(b *testing.B) { enqueueLoad(b, -1, size, 8) })
	}
}

func BenchmarkEnqueue25MiB(b *testing.B) {
	b.Run("inline", func(b *testing.B) { enqueueLoad(b, 32<<20, 25<<20, 1) })
	b.Run("file", func(b *testing.B) { enqueueLoad(b, store.DefaultInlineMax, 25<<20, 1) })
}
