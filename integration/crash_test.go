package integration

import (
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery/smtptest"
)

var tagRE = regexp.MustCompile(`X-Test-Tag: (\d+)`)

// TestKill9DuringDelivery kills the daemon while it is delivering and checks
// that every accepted message reaches every recipient after a restart, and
// that only what was in flight at the kill can arrive twice.
func TestKill9DuringDelivery(t *testing.T) {
	const n = 150
	w := newMXWorld(t,
		"example.net. MX 10 mx.example.net.",
		"mx.example.net. A 127.0.0.2",
	)
	var (
		mu       sync.Mutex
		received int
		release  = make(chan struct{})
	)
	// The MX holds every transaction after the 50th at the final dot until
	// the test lets go, so the kill lands with deliveries in flight.
	mx := w.mx(t, "127.0.0.2", smtptest.Options{Data: func(m *smtptest.Message) error {
		mu.Lock()
		received++
		k := received
		mu.Unlock()
		if k > 50 {
			<-release
		}
		return nil
	}})
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	d := startDaemon(t, dir, w.config(t, dir, addr, "max_per_destination = 8"), addr)

	for i := range n {
		submit(t, addr, "load@example.com", []string{"a@example.net", "b@example.net"},
			fmt.Sprintf("From: load@example.com\r\nX-Test-Tag: %d\r\nSubject: crash %d\r\n\r\nbody %d\r\n", i, i, i))
	}
	waitFor(t, "deliveries blocked in flight", 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return received > 50
	})
	d.kill9()
	close(release) // the held transactions now complete: their 250s were never recorded
	d.start()
	d.waitQueueEmpty(90 * time.Second)

	seen := map[string]int{}
	for _, m := range mx.Messages() {
		tag := tagRE.FindSubmatch(m.Data)
		if tag == nil {
			t.Fatalf("message without a tag:\n%s", m.Data)
		}
		for _, r := range m.Rcpts {
			seen[string(tag[1])+" "+r]++
		}
	}
	dups := 0
	for i := range n {
		for _, r := range []string{"a@example.net", "b@example.net"} {
			switch c := seen[fmt.Sprintf("%d %s", i, r)]; {
			case c == 0:
				t.Errorf("message %d never reached %s", i, r)
			case c > 1:
				dups += c - 1
			}
		}
	}
	// Only transactions caught between the remote 250 and our commit may be
	// duplicated: at most the 8 sessions in flight, two recipients each.
	if dups > 2*8 {
		t.Errorf("%d duplicate deliveries, want at most %d (the in-flight ones)", dups, 2*8)
	}
	t.Logf("kill -9 during delivery: %d messages × 2 recipients, %d transactions received, %d duplicate recipient deliveries", n, len(mx.Messages()), dups)
}
