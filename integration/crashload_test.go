package integration

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/outbox-mta/outbox/delivery/smtptest"
)

// queueIDRE finds the queue ID in the Received field Outbox prepends
// ("... by outbox.test (Outbox) with ESMTP id ID").
var queueIDRE = regexp.MustCompile(`\(Outbox\) with [A-Z]+(?: \([^)]*\))? id ([0-9a-z]+)`)

// ackClient submits uniquely tagged messages and remembers which tags got a
// 250 to the final dot: the messages Outbox promised to deliver.
type ackClient struct {
	addr string
	// pad, when set, gives the bytes of filler a tag's body carries (past
	// the store's inline limit, the body goes to a file).
	pad func(tag int64) int
	// onAck, when set, is called after each 250 to the final dot.
	onAck func(tag int64)
	sent  atomic.Int64

	mu    sync.Mutex
	acked map[int64]bool
	ids   map[int64]string // queue ID of an acknowledged tag, from its 250
}

// queuedAsRE finds the queue ID in the listener's 250 to the final dot.
var queuedAsRE = regexp.MustCompile(`queued as ([0-9a-z]+)`)

// ackedIDs returns a copy of the queue IDs of the acknowledged tags.
func (a *ackClient) ackedIDs() map[int64]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.ids)
}

// submitTagged makes one transaction for tag and reports whether the final
// dot got its 250. A failure anywhere (the daemon killed mid-session) is
// not an acknowledgement, whether or not the message was committed.
func (a *ackClient) submitTagged(tag int64) bool {
	a.sent.Add(1)
	conn, err := net.DialTimeout("tcp", a.addr, 2*time.Second)
	if err != nil {
		return false
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	c := smtp.NewClient(conn)
	defer c.Close()
	if c.Hello("client.test") != nil || c.Mail("tagged@example.com", nil) != nil ||
		c.Rcpt("tagged@example.net", nil) != nil {
		return false
	}
	wc, err := c.Data()
	if err != nil {
		return false
	}
	fmt.Fprintf(wc, "From: tagged@example.com\r\nX-Test-Tag: %d\r\nSubject: tagged %d\r\n\r\nbody %d\r\n", tag, tag, tag)
	if a.pad != nil {
		line := strings.Repeat("x", 76) + "\r\n"
		wc.Write([]byte(strings.Repeat(line, a.pad(tag)/len(line))))
	}
	resp, err := wc.CloseWithResponse()
	if err != nil {
		return false
	}
	a.mu.Lock()
	a.acked[tag] = true
	if m := queuedAsRE.FindStringSubmatch(resp.StatusText); m != nil {
		if a.ids == nil {
			a.ids = map[int64]string{}
		}
		a.ids[tag] = m[1]
	}
	a.mu.Unlock()
	if a.onAck != nil {
		a.onAck(tag)
	}
	c.Quit()
	return true
}

// TestCrashUnderLoad kills the daemon with SIGKILL at random moments while
// smtp-source and a tagging client submit and deliveries run, restarts it
// each time, and then checks the durability contract end to end: every
// message that got a 250 is delivered, every spooled message is delivered,
// and a message arrives twice only if it was in flight at a kill (between
// the remote 250 and our commit).
func TestCrashUnderLoad(t *testing.T) {
	smtpSource := needSMTPSource(t)
	const (
		kills = 20
		// delivery.max_connections sets the queue's workers, and its
		// start-up spread (workers/s for a minute after each restart);
		// max_per_destination bounds what is in flight at a kill, all of
		// it for the one destination.
		workers  = 64
		perDest  = 16
		budget   = 75 * time.Second
		taggers  = 2
		pace     = 40 * time.Millisecond // per tagging client: 50 messages/s in all
		srcBatch = "20"
	)
	w := newMXWorld(t,
		"example.net. MX 10 mx.example.net.",
		"mx.example.net. A 127.0.0.2",
	)
	mx := w.mx(t, "127.0.0.2", smtptest.Options{})
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	d := startDaemon(t, dir, w.config(t, dir, addr,
		fmt.Sprintf("max_connections = %d\nmax_per_destination = %d", workers, perDest)), addr)

	ctx, stopLoad := context.WithCancel(context.Background())
	var load sync.WaitGroup
	defer func() { stopLoad(); load.Wait() }()
	cl := startCrashLoad(ctx, &load, smtpSource, addr, taggers, pace, srcBatch)

	start := time.Now()
	n := 0
	for ; n < kills && time.Since(start) < budget; n++ {
		// A random moment: 0.2s to 1.2s of load since the last start. This
		// wait is the scenario (load between kills), not synchronisation.
		time.Sleep(200*time.Millisecond + rand.N(time.Second))
		d.kill9()
		d.start()
	}
	stopLoad()
	load.Wait()
	if n < kills {
		t.Errorf("only %d kills within %v (want %d)", n, budget, kills)
	}
	killing := time.Since(start)
	d.waitQueueEmpty(90 * time.Second)

	tl := tallyCrashRun(t, d, mx, cl.ac)
	// A duplicate needs a delivery in flight at a kill: at most
	// max_per_destination per kill.
	if tl.dups > n*perDest {
		t.Errorf("%d duplicate deliveries after %d kills, want at most %d (the in-flight ones)", tl.dups, n, n*perDest)
	}
	if len(tl.byID) != tl.spooled {
		t.Errorf("%d distinct queue IDs delivered, %d messages spooled", len(tl.byID), tl.spooled)
	}
	if len(cl.ac.acked) == 0 || tl.fromSource == 0 {
		t.Errorf("no load got through: %d tagged acknowledged, %d smtp-source messages spooled", len(cl.ac.acked), tl.fromSource)
	}
	summary(t, "sent=%d (tagged) acknowledged=%d (tagged) delivered=%d/%d (tagged/all spooled, %d from smtp-source in %d runs) lost=%d duplicated=%d kills=%d in %v (+%v to drain)",
		cl.ac.sent.Load(), len(cl.ac.acked), countAcked(cl.ac.acked, tl.byTag), len(tl.byID), tl.fromSource, cl.srcRuns.Load(), tl.lost, tl.dups, n, killing.Round(time.Second), (time.Since(start) - killing).Round(time.Second))
}

// crashLoad is the load of TestCrashUnderLoad: smtp-source batches in the
// background and tagging clients whose acknowledgements are recorded.
type crashLoad struct {
	srcRuns atomic.Int64
	ac      *ackClient
}

// startCrashLoad starts the load on addr under load, until ctx ends: one
// loop of smtp-source batches, relaunched when a kill ends one, and taggers
// tagging clients, each submitting one message per pace.
func startCrashLoad(ctx context.Context, load *sync.WaitGroup, smtpSource, addr string, taggers int, pace time.Duration, srcBatch string) *crashLoad {
	cl := &crashLoad{ac: &ackClient{addr: addr, acked: map[int64]bool{}}}
	load.Go(func() {
		for ctx.Err() == nil {
			cmd := exec.CommandContext(ctx, smtpSource, "-s", "1", "-m", srcBatch, "-l", "2048",
				"-f", "source@example.com", "-t", "source@example.net", "-M", "client.test", addr)
			cmd.Run() // a kill makes it fail; the next batch starts after the restart
			cl.srcRuns.Add(1)
			waitListening(ctx, addr)
		}
	})
	var nextTag atomic.Int64
	for range taggers {
		load.Go(func() {
			tick := time.NewTicker(pace)
			defer tick.Stop()
			for ctx.Err() == nil {
				if !cl.ac.submitTagged(nextTag.Add(1)) {
					waitListening(ctx, addr)
				}
				select {
				case <-ctx.Done():
				case <-tick.C:
				}
			}
		})
	}
	return cl
}

// crashTally is what reached the MX after a crash run, against what was
// acknowledged and spooled.
type crashTally struct {
	byTag               map[int64]int  // deliveries per tag of the tagging clients
	byID                map[string]int // deliveries per queue ID
	spooled, fromSource int            // messages in the spool, those from smtp-source
	lost, dups          int
}

// tallyCrashRun counts the deliveries at mx and fails t for every message
// acknowledged by ac or spooled by d that never arrived, or did not end
// delivered.
func tallyCrashRun(t *testing.T, d *daemon, mx *smtptest.Server, ac *ackClient) crashTally {
	t.Helper()
	tl := crashTally{byTag: map[int64]int{}, byID: map[string]int{}}
	for _, m := range mx.Messages() {
		if id := queueIDRE.FindSubmatch(m.Data); id != nil {
			tl.byID[string(id[1])] += len(m.Rcpts)
		} else {
			t.Errorf("delivered message without Outbox's Received id:\n%.400s", m.Data)
		}
		if tag := tagRE.FindSubmatch(m.Data); tag != nil {
			var k int64
			fmt.Sscan(string(tag[1]), &k)
			tl.byTag[k] += len(m.Rcpts)
		}
	}
	for tag := range ac.acked {
		if tl.byTag[tag] == 0 {
			tl.lost++
			t.Errorf("tagged message %d got a 250 but was never delivered", tag)
		}
	}
	// Every message in the spool (everything committed, smtp-source's
	// included) is final, delivered, and reached the MX.
	for _, m := range d.queueJSONArgs("--done") {
		tl.spooled++
		if m["from"] == "source@example.com" {
			tl.fromSource++
		}
		id := m["id"].(string)
		for addr, state := range recipients(m) {
			if state != "delivered" {
				t.Errorf("message %s to %s ended %s", id, addr, state)
			}
		}
		if tl.byID[id] == 0 {
			tl.lost++
			t.Errorf("spooled message %s (from %v) never reached the MX", id, m["from"])
		}
	}
	for _, c := range tl.byID {
		if c > 1 {
			tl.dups += c - 1
		}
	}
	return tl
}

// needSMTPSource returns Postfix's smtp-source, which it installs in
// /usr/sbin (not on a non-root PATH).
func needSMTPSource(t *testing.T) string {
	t.Helper()
	if p := "/usr/sbin/smtp-source"; fileExists(p) {
		return p
	}
	return needTool(t, "smtp-source")
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// countAcked is the number of acknowledged tags that were delivered.
func countAcked(acked map[int64]bool, delivered map[int64]int) int {
	n := 0
	for tag := range acked {
		if delivered[tag] > 0 {
			n++
		}
	}
	return n
}

// waitListening returns once addr accepts connections or ctx ends: the
// clients' pause while the daemon restarts.
func waitListening(ctx context.Context, addr string) {
	for ctx.Err() == nil {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}
