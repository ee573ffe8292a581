package store

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Benchmarks behind the choices in doc.go. Run with, for example:
//
//	go test -run XXX -bench . -benchtime 2s ./store

// BenchmarkDue: finding due work is a cursor seek, flat in the queue size.
func BenchmarkDue(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("queued=%d", n), func(b *testing.B) {
			db := openTest(b, "", Options{})
			seedQueue(b, db, n)
			ctx := context.Background()
			now := t0.Add(time.Duration(n/2) * time.Second) // half the queue is due
			b.ResetTimer()
			for b.Loop() {
				ids, err := db.Due(ctx, now, 100, nil)
				if err != nil || len(ids) != 100 {
					b.Fatalf("Due = %d, %v", len(ids), err)
				}
				if _, ok, _ := db.NextDue(ctx); !ok {
					b.Fatal("NextDue: nothing")
				}
			}
		})
	}
}

// seedQueue writes n pending messages, due a second apart from t0, directly
// in a few large transactions.
func seedQueue(b *testing.B, db *DB, n int) {
	rec := rcpts("a@b")
	for i := 0; i < n; {
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			for j := 0; j < 10_000 && i < n; j, i = j+1, i+1 {
				id := db.ids.next(t0)
				rec[0].NextAttempt = t0.Add(time.Duration(i) * time.Second)
				m := &Message{Recipients: rec}
				if err := bucket(tx, bucketMsgs).Put([]byte(id), EncodeMessage(m)); err != nil {
					return err
				}
				t, _ := m.NextAttempt()
				if err := bucket(tx, bucketDue).Put(dueKey(t, id), nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAcceptAndDeliver is the spool's share of relaying: each of 20
// writers enqueues a 4 KiB message and then records its recipient as
// delivered, as the listener and a delivery worker do, so accept commits
// and outcome commits share batches as they do in the daemon.
func BenchmarkAcceptAndDeliver(b *testing.B) {
	db := openTest(b, "", Options{Now: time.Now})
	body := pattern(4096, 7)
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				bd, err := db.NewBody()
				if err != nil {
					b.Error(err)
					return
				}
				bd.Write(body)
				m := &Message{From: "a@b", Recipients: rcpts("c@d")}
				if err := db.Enqueue(ctx, m, bd); err != nil {
					b.Error(err)
					return
				}
				err = db.Update(ctx, m.ID, func(m *Message) error {
					m.Recipients[0].State = StateDelivered
					return nil
				})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkOpenRecount measures Open on a spool of n pending messages
// (two recipients with one attempt each): the recount behind Stats reads
// every record once there. The spool is written straight into bbolt.
func BenchmarkOpenRecount(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			dir := b.TempDir()
			openTest(b, dir, Options{}).Close()
			fillSpool(b, dir, n)
			b.ResetTimer()
			for range b.N {
				db, err := Open(dir, Options{Logger: quietLogger()})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if s, _ := db.Stats(context.Background()); s.Pending != n {
					b.Fatalf("pending %d, want %d", s.Pending, n)
				}
				db.Close()
				b.StartTimer()
			}
		})
	}
}

// BenchmarkStats measures Stats on a spool of 100,000 pending messages.
func BenchmarkStats(b *testing.B) {
	dir := b.TempDir()
	openTest(b, dir, Options{}).Close()
	fillSpool(b, dir, 100_000)
	db := openTest(b, dir, Options{})
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if _, err := db.Stats(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// fillSpool writes n pending messages with their due and arrival entries.
func fillSpool(b *testing.B, dir string, n int) {
	b.Helper()
	bdb, err := bolt.Open(filepath.Join(dir, "spool.db"), 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer bdb.Close()
	ids := idGen{enc: idEncoding()}
	for start := 0; start < n; start += 50_000 {
		err := bdb.Update(func(tx *bolt.Tx) error {
			for done := start; done < min(n, start+50_000); done++ {
				t := t0.Add(time.Duration(done) * time.Millisecond)
				m := &Message{ID: ids.next(t), From: "sender@example.com", Received: t, Size: 4096}
				for _, a := range []string{"one@example.org", "two@example.net"} {
					m.Recipients = append(m.Recipients, Recipient{Addr: a, State: StateDeferred, Attempts: 1, NextAttempt: t.Add(time.Hour),
						History: []Attempt{{Time: t, Host: "mx.example.org[192.0.2.1]:25", Code: 451, Enhanced: "4.7.1", Reply: "greylisted", Result: StateDeferred}}})
				}
				if err := tx.Bucket([]byte(bucketMsgs)).Put([]byte(m.ID), EncodeMessage(m)); err != nil {
					return err
				}
				if err := tx.Bucket([]byte(bucketDue)).Put(dueKey(t.Add(time.Hour), m.ID), nil); err != nil {
					return err
				}
				if err := tx.Bucket([]byte(bucketArrival)).Put(dueKey(t, m.ID), nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
