package pgstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/outbox-mta/outbox/store/storetest"
)

// BenchmarkBody25MiB compares the two ways PostgreSQL can hold a 25 MiB
// body: a bytea column (what pgstore uses) and a large object, each
// written in one committed transaction and read back whole.
//
//	go test -run '^$' -bench Body25MiB -benchtime 5x ./store/pgstore/
func BenchmarkBody25MiB(b *testing.B) {
	url := pg.Get(b).NewDatabase(b)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE b (id int PRIMARY KEY, body bytea); CREATE TABLE lo (id int PRIMARY KEY, oid oid)`); err != nil {
		b.Fatal(err)
	}
	// Like a message with attachments: base64 of random bytes, which
	// neither TOAST's compression nor anything else shrinks much.
	raw := make([]byte, 25<<20/4*3)
	rand.Read(raw)
	body := []byte(base64.StdEncoding.EncodeToString(raw))
	b.Run("bytea", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, err := conn.Exec(ctx, `INSERT INTO b VALUES ($1, $2)`, i, body); err != nil {
				b.Fatal(err)
			}
			var got []byte
			if err := conn.QueryRow(ctx, `SELECT body FROM b WHERE id = $1`, i).Scan(&got); err != nil || len(got) != len(body) {
				b.Fatal(err)
			}
		}
		report(b, conn, "b")
	})
	b.Run("largeobject", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				los := tx.LargeObjects()
				oid, err := los.Create(ctx, 0)
				if err != nil {
					return err
				}
				lo, err := los.Open(ctx, oid, pgx.LargeObjectModeWrite)
				if err != nil {
					return err
				}
				if _, err := io.Copy(lo, bytes.NewReader(body)); err != nil {
					return err
				}
				_, err = tx.Exec(ctx, `INSERT INTO lo VALUES ($1, $2)`, i, oid)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				var oid uint32
				if err := tx.QueryRow(ctx, `SELECT oid FROM lo WHERE id = $1`, i).Scan(&oid); err != nil {
					return err
				}
				los := tx.LargeObjects()
				lo, err := los.Open(ctx, oid, pgx.LargeObjectModeRead)
				if err != nil {
					return err
				}
				n, err := io.Copy(io.Discard, lo)
				if n != int64(len(body)) {
					b.Fatalf("read back %d bytes", n)
				}
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		report(b, conn, "pg_largeobject")
	})
}

// report adds the table's size on disk per body.
func report(b *testing.B, conn *pgx.Conn, table string) {
	var size int64
	if err := conn.QueryRow(context.Background(), `SELECT pg_total_relation_size($1)`, table).Scan(&size); err == nil && b.N > 0 {
		b.ReportMetric(float64(size)/float64(b.N)/(1<<20), "MiB-on-disk/op")
	}
}

// BenchmarkEnqueue is the accept path, as storetest.BenchEnqueue measures
// it for bbolt too (store's BenchmarkSuiteEnqueue).
//
//	go test -run '^$' -bench Enqueue -benchtime 2s ./store/pgstore/
func BenchmarkEnqueue(b *testing.B) {
	storetest.BenchEnqueue(b, func(b *testing.B) storetest.Spool {
		db, err := Open(context.Background(), pg.Get(b).NewDatabase(b), Options{ScratchDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			if n := db.group.commits.Load(); b.N > 0 {
				b.ReportMetric(float64(n)/float64(b.N), "commits/msg")
			}
			db.Close()
		})
		return db
	})
}
