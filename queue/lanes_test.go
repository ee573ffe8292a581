package queue

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/store"
)

// TestLaneShares: with every lane busy the slots go 8 : 3 : 1, two lanes
// share by their weights, a lane alone takes everything, and a lane that
// was idle is served at the next slot without claiming the turns it
// missed.
func TestLaneShares(t *testing.T) {
	all := [3]bool{true, true, true}
	count := func(l *lanes, has [3]bool, n int) [3]int {
		var c [3]int
		for range n {
			c[l.pick(has)]++
		}
		return c
	}
	for _, tt := range []struct {
		has  [3]bool
		want [3]int
	}{
		{all, [3]int{800, 300, 100}},
		{[3]bool{true, false, true}, [3]int{1067, 0, 133}},
		{[3]bool{false, true, true}, [3]int{0, 900, 300}},
		{[3]bool{false, false, true}, [3]int{0, 0, 1200}},
	} {
		got := count(&lanes{}, tt.has, 1200)
		for i := range got {
			if d := got[i] - tt.want[i]; d < -1 || d > 1 {
				t.Errorf("lanes %v: shares %v, want %v", tt.has, got, tt.want)
				break
			}
		}
	}
	var l lanes
	count(&l, [3]bool{false, false, true}, 1000) // bulk alone for a long time
	if got := l.pick(all); got != 0 {
		t.Errorf("high arriving after a long bulk run: lane %d served first", got)
	}
	got := count(&l, all, 120)
	if got[2] < 9 || got[0] > 81 {
		t.Errorf("after the idle lanes returned: %v; they claimed turns they missed", got)
	}
	if l.pick([3]bool{}) != -1 {
		t.Error("a lane picked with none due")
	}
}

// TestHighPriorityBeforeBulkBacklog: 5,000 bulk messages wait for a slow
// destination (the workers are all busy with them); a high-priority
// message submitted after the backlog started draining is delivered
// within the next few deliveries, long before the backlog is worked off,
// and the bulk lane still gets its share meanwhile.
func TestHighPriorityBeforeBulkBacklog(t *testing.T) {
	const bulk = 5000
	opts := testOptions()
	opts.Workers = 8
	opts.DSN = false
	r := newRealQueue(t, opts)

	var seq atomic.Int64
	var mu sync.Mutex
	order := map[string]int64{}
	at := map[string]time.Time{}
	started := make(chan struct{})
	highIn := make(chan struct{})
	r.del.set(func(_ context.Context, env *delivery.Envelope) *delivery.Result {
		n := seq.Add(1)
		if n == 100 {
			close(started)
			<-highIn // the backlog is draining: the high message is in
		}
		mu.Lock()
		order[env.MsgID], at[env.MsgID] = n, time.Now()
		mu.Unlock()
		return result(env, delivery.Delivered, ok250)
	})
	// The backlog, spooled before the queue looks (one wake-up at the
	// end): concurrent commits share fsyncs.
	var wg sync.WaitGroup
	ids := make(chan string, bulk)
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < bulk; i += 16 {
				m := &store.Message{From: "news@here.test", Priority: store.PriorityBulk,
					Recipients: []store.Recipient{{Addr: fmt.Sprintf("r%d@slow.test", i), NextAttempt: r.clock.Now()}}}
				b, _ := r.db.NewBody()
				b.Write([]byte("Subject: news\r\n\r\nhi\r\n"))
				if err := r.db.Enqueue(context.Background(), m, b); err != nil {
					t.Error(err)
					return
				}
				ids <- m.ID
			}
		})
	}
	wg.Wait()
	close(ids)
	r.q.Wake()
	<-started
	// The dispatcher may have started on the backlog while it was being
	// spooled (a commit can wake it), so count from the submission.
	submitted, before := time.Now(), seq.Load()
	high := r.send(&store.Message{Priority: store.PriorityHigh}, "boss@fast.test")
	close(highIn)

	var last time.Time
	var lastPos int64
	for id := range ids {
		r.waitFinal(id)
		mu.Lock()
		if at[id].After(last) {
			last, lastPos = at[id], order[id]
		}
		mu.Unlock()
	}
	r.waitFinal(high)
	mu.Lock()
	pos, highAt := order[high], at[high]
	mu.Unlock()
	// before bulk deliveries were under way or done when it came; the
	// workers busy then finish first, and the high lane takes the next
	// slots.
	if pos > before+int64(opts.Workers)+2 {
		t.Errorf("high-priority message delivered %dth of %d, %d deliveries after its submission: it waited behind the bulk backlog", pos, bulk+1, pos-before)
	}
	if lastPos != bulk+1 && highAt.After(last) {
		t.Errorf("the high message was delivered after the backlog drained")
	}
	t.Logf("high-priority latency %v (delivered %dth); bulk backlog of %d drained in %v",
		highAt.Sub(submitted).Round(time.Microsecond), pos, bulk, last.Sub(submitted).Round(time.Millisecond))
}
