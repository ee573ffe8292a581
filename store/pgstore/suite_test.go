package pgstore

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/outbox-mta/outbox/store/pgstore/pgtest"
	"github.com/outbox-mta/outbox/store/storetest"
)

// pg is this test binary's PostgreSQL server, started at first use.
var pg pgtest.Lazy

func TestMain(m *testing.M) {
	code := m.Run()
	pg.Stop()
	os.Exit(code)
}

// openTest opens a spool on a new database of pg.
func openTest(t *testing.T, url string, o Options) *DB {
	t.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	db, err := Open(context.Background(), url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestSuite runs the backend-neutral spool suite against PostgreSQL.
func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		url := pg.Get(t).NewDatabase(t)
		return func(o storetest.Options) storetest.Spool {
			return openTest(t, url, Options{Now: o.Now, InlineMax: o.InlineMax, MaxBodySize: o.MaxBodySize, ScratchDir: t.TempDir()})
		}
	})
}
