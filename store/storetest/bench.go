package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// BenchEnqueue is the accept path, the same for every backend: b.N
// Enqueues of 4 KiB messages from 1, 8 and 32 writers, reporting msgs/s
// and the p50/p99 latency of one Enqueue (which returns once committed).
func BenchEnqueue(b *testing.B, open func(b *testing.B) Spool) {
	for _, writers := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			Load(b, open(b), 4<<10, writers)
		})
	}
}

// Load runs b.N Enqueues of size-byte bodies into db from writers
// goroutines and reports msgs/s and the p50/p99 latency of one Enqueue.
func Load(b *testing.B, db Spool, size, writers int) {
	body := pattern(size, 7)
	ctx := context.Background()
	var next atomic.Int64
	lat := make([][]time.Duration, writers)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				t := time.Now()
				bd, err := db.NewBody()
				if err != nil {
					b.Error(err)
					return
				}
				bd.Write(body)
				if err := db.Enqueue(ctx, &store.Message{From: "a@b", Recipients: rcpts("c@d")}, bd); err != nil {
					b.Error(err)
					return
				}
				lat[w] = append(lat[w], time.Since(t))
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) > 0 {
		b.ReportMetric(float64(len(all))/el.Seconds(), "msgs/s")
		b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	}
}
