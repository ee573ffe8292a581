package pgstore

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The cost of shared traffic shaping per message: an admission (Update:
// one transaction of two round trips taking a rate slot and a
// connection slot) and its Release, against the one-statement
// alternative (an UPDATE ... RETURNING that takes a rate slot only, one
// round trip), on one budget (every node's messages contend for its row)
// and on a budget per goroutine. Run:
//
//	go test -run '^$' -bench 'Admission' -benchtime 2000x ./store/pgstore/

func BenchmarkAdmissionOneBudget(b *testing.B) { benchAdmission(b, false) }

func BenchmarkAdmissionBudgetEach(b *testing.B) { benchAdmission(b, true) }

func benchAdmission(b *testing.B, spread bool) {
	url := pg.Get(b).NewDatabase(b)
	db, err := Open(context.Background(), url, Options{Node: "bench", ScratchDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	l := db.Budgets()
	rec := []byte(`{"minute":"2026-11-30T12:00:00Z","gen":1}`)
	fn := func(_, _ []byte, _ time.Time, _ int) ([]byte, []byte, bool, error) { return rec, nil, true, nil }
	var n atomic.Int64
	b.SetParallelism(4) // 4×GOMAXPROCS goroutines: several nodes' workers
	b.ResetTimer()
	b.RunParallel(func(p *testing.PB) {
		key := "one"
		if spread {
			key = "k" + strconv.FormatInt(n.Add(1), 10)
		}
		ctx := context.Background()
		for p.Next() {
			slot, err := l.Update(ctx, key, "", fn)
			if err != nil {
				b.Error(err)
				return
			}
			if err := l.Release(ctx, slot); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkAdmissionOneStatement is the alternative: the rate slot alone
// as one atomic statement (GCRA in SQL), no connection slot, in one
// round trip (BEGIN, the UPDATE and COMMIT sent as one batch).
func BenchmarkAdmissionOneStatement(b *testing.B) {
	url := pg.Get(b).NewDatabase(b)
	db, err := Open(context.Background(), url, Options{Node: "bench", ScratchDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.pool.Exec(ctx, `CREATE TABLE bench_rate (key text PRIMARY KEY, tat timestamptz NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	if _, err := db.pool.Exec(ctx, `INSERT INTO bench_rate VALUES ('one', clock_timestamp())`); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(p *testing.PB) {
		for p.Next() {
			var at time.Time
			batch := &pgx.Batch{}
			batch.Queue(`BEGIN`)
			batch.Queue(`SET LOCAL synchronous_commit TO off`) // as Update's
			batch.Queue(`UPDATE bench_rate SET tat = greatest(tat, clock_timestamp()) + interval '1 microsecond'
				WHERE key = 'one' RETURNING tat`).QueryRow(func(row pgx.Row) error { return row.Scan(&at) })
			batch.Queue(`COMMIT`)
			if err := db.pool.SendBatch(ctx, batch).Close(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkBackoffsDown is the down list's read before each attempt.
func BenchmarkBackoffsDown(b *testing.B) {
	url := pg.Get(b).NewDatabase(b)
	db, err := Open(context.Background(), url, Options{Node: "bench", ScratchDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	l := db.Backoffs()
	ctx := context.Background()
	now := time.Now()
	if err := l.SetDown(ctx, "down.test", now.Add(time.Hour), "x", now); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(p *testing.PB) {
		for p.Next() {
			if _, _, _, err := l.Down(ctx, "up.test", now); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
