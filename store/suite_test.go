package store_test

import (
	"log/slog"
	"testing"

	"github.com/outbox-mta/outbox/store"
	"github.com/outbox-mta/outbox/store/storetest"
)

// TestSuite runs the backend-neutral spool suite against bbolt.
func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		dir := t.TempDir()
		return func(o storetest.Options) storetest.Spool {
			db, err := store.Open(dir, store.Options{Now: o.Now, InlineMax: o.InlineMax, MaxBodySize: o.MaxBodySize,
				Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}
	})
}

// BenchmarkSuiteEnqueue is the accept path as storetest measures it for
// every backend (store/pgstore's BenchmarkEnqueue is the same).
func BenchmarkSuiteEnqueue(b *testing.B) {
	storetest.BenchEnqueue(b, func(b *testing.B) storetest.Spool {
		db, err := store.Open(b.TempDir(), store.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		return db
	})
}
