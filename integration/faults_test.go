package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/queue"
	"github.com/outbox-mta/outbox/store"
)

// staticResolver maps each domain to one MX host address.
type staticResolver map[string]netip.Addr

func (r staticResolver) Lookup(_ context.Context, domain string) ([]delivery.Host, error) {
	a, ok := r[domain]
	if !ok {
		return nil, fmt.Errorf("no MX for %s", domain)
	}
	return []delivery.Host{{Name: "mx." + domain, Pref: 10, Addrs: []netip.Addr{a}}}, nil
}

// stack is an in-process daemon: the store, deliverer and queue wired as
// cmd/outbox serve wires them, so that its goroutines can be counted.
type stack struct {
	db   *store.DB
	del  *delivery.Deliverer
	q    *queue.Queue
	stop func()
}

func startStack(t *testing.T, dir string, port int, res delivery.Resolver, workers int, log *slog.Logger) *stack {
	t.Helper()
	db, err := store.Open(dir, store.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	// Two seconds for the steps a fault makes us wait on, so a timeout
	// costs seconds, not the RFC's minutes; the steps no fault stalls keep
	// a margin, so a busy CI machine cannot time out a good transaction
	// after its final dot (which would be a legitimate duplicate).
	step, margin := 2*time.Second, 15*time.Second
	del := delivery.New(delivery.Options{
		Hostname: "outbox.test",
		Resolver: res,
		Port:     port,
		Timeouts: delivery.Timeouts{Connect: margin, TLSHandshake: margin, Greeting: step, Command: step,
			Mail: step, Rcpt: step, Data: margin, DataBlock: margin, FinalDot: margin},
		IdleTimeout: 300 * time.Millisecond,
		Logger:      log,
	})
	q, err := queue.New(db, del, queue.Options{
		Workers:          workers,
		FirstRetry:       200 * time.Millisecond,
		MaxRetryInterval: 500 * time.Millisecond,
		Warmup:           -1,
		Logger:           log,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- q.Run(ctx) }()
	s := &stack{db: db, del: del, q: q}
	s.stop = func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		if err := q.Shutdown(sctx); err != nil {
			t.Errorf("queue shutdown: %v", err)
		}
		cancel()
		if err := <-runErr; err != nil && !errors.Is(err, queue.ErrClosed) && !errors.Is(err, context.Canceled) {
			t.Errorf("queue run: %v", err)
		}
		if err := del.Shutdown(sctx); err != nil {
			t.Errorf("deliverer shutdown: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("closing the store: %v", err)
		}
	}
	return s
}

// enqueue spools one message for rcpt as the listener does: into the
// store, then it wakes the queue.
func (s *stack) enqueue(t *testing.T, rcpt, body string) string {
	t.Helper()
	b, err := s.db.NewBody()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(b, body); err != nil {
		t.Fatal(err)
	}
	m := &store.Message{From: "app@outbox.test", Received: time.Now(),
		Recipients: []store.Recipient{{Addr: rcpt, State: store.StateQueued, NextAttempt: time.Now()}}}
	err = s.db.Enqueue(context.Background(), m, b)
	s.q.Spooled(err)
	if err != nil {
		t.Fatal(err)
	}
	return m.ID
}

// TestFaultyRemoteServers runs one message against each scripted
// misbehaviour. Each first attempt must end in a deferral within the step
// timeouts, the retry must deliver it exactly once, no worker may stay stuck
// (there are fewer workers than faults, so a stuck one stalls the rest), and
// once the daemon's parts are stopped no goroutine may be left behind.
func TestFaultyRemoteServers(t *testing.T) {
	before := runtime.NumGoroutine()
	port := freePort(t, "127.0.0.20")
	res := staticResolver{}
	servers := make([]*faultServer, len(faultScripts))
	for i, f := range faultScripts {
		ip := netip.AddrFrom4([4]byte{127, 0, 0, byte(20 + i)})
		res[fmt.Sprintf("fault%d.test", i)] = ip
		servers[i] = startFaultServer(t, fmt.Sprintf("%s:%d", ip, port), f.misbehave)
	}
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	st := startStack(t, t.TempDir(), port, res, 3, log)
	stopped := false
	defer func() {
		if !stopped {
			st.stop()
		}
	}()

	start := time.Now()
	ids := make([]string, len(faultScripts))
	for i := range faultScripts {
		ids[i] = st.enqueue(t, fmt.Sprintf("user@fault%d.test", i),
			fmt.Sprintf("From: app@outbox.test\r\nSubject: fault %d\r\n\r\nbody\r\n", i))
	}
	get := func(id string) store.Recipient {
		m, err := st.db.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		return m.Recipients[0]
	}
	waitFor(t, "every faulty destination delivered on retry", 30*time.Second, func() bool {
		for _, id := range ids {
			if get(id).State != store.StateDelivered {
				return false
			}
		}
		return true
	})
	elapsed := time.Since(start)

	var firsts []string
	for i, f := range faultScripts {
		r := get(ids[i])
		if len(r.History) < 2 || r.History[0].Result != store.StateDeferred {
			t.Errorf("%s: history %+v, want a deferral then a delivery", f.name, r.History)
		} else {
			firsts = append(firsts, fmt.Sprintf("%s → %q", f.name, r.History[0].Reply))
		}
		if n := servers[i].delivered.Load(); n != 1 {
			t.Errorf("%s: the server accepted the message %d times, want 1", f.name, n)
		}
	}
	// The first attempts ran three at a time, each bounded by a two-second
	// step timeout: four rounds at most, then the retries. A worker stuck
	// on a fault would push this far beyond.
	if elapsed > 25*time.Second {
		t.Errorf("all faults took %v to deliver: a worker is stuck", elapsed)
	}

	st.stop()
	stopped = true
	for _, s := range servers {
		s.close()
	}
	deadline := time.Now().Add(10 * time.Second)
	after := runtime.NumGoroutine()
	for after > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		after = runtime.NumGoroutine()
	}
	if after > before {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutine leak: %d before, %d after stopping\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
	for _, s := range firsts {
		t.Log(s)
	}
	summary(t, "%d scripted faults, %d deferred then delivered exactly once, in %v; goroutines before=%d after=%d",
		len(faultScripts), len(firsts), elapsed.Round(time.Millisecond), before, after)
}
