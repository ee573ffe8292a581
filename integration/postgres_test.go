package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery/smtptest"
	"github.com/outbox-mta/outbox/store/pgstore/pgtest"
)

// pg is the PostgreSQL server of the tests of the postgres spool backend,
// started at first use and stopped by TestMain.
var pg pgtest.Lazy

// postgresConfig turns a world's configuration into one on the postgres
// backend at url.
func postgresConfig(cfg, url, lease string) string {
	return strings.Replace(cfg, "[spool]\n",
		fmt.Sprintf("[spool]\nbackend = \"postgres\"\npostgres_url = %q\nlease = %q\n", url, lease), 1)
}

// TestPostgresOutageUnderLoad stops the database under smtp-source and
// tagging load and starts it again: while it is down every submission is
// refused with 451 (never a 250 without a commit) and deliveries pause;
// once it is back everything resumes by itself, and every acknowledged
// message is delivered.
func TestPostgresOutageUnderLoad(t *testing.T) {
	smtpSource := needSMTPSource(t)
	srv := pg.Get(t)
	url := srv.NewDatabase(t)
	w := newMXWorld(t, "example.net. MX 10 mx.example.net.", "mx.example.net. A 127.0.0.2")
	mx := w.mx(t, "127.0.0.2", smtptest.Options{})
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	d := startDaemon(t, dir, postgresConfig(w.config(t, dir, addr, "max_connections = 16"), url, "10s"), addr)

	ctx, stopLoad := context.WithCancel(context.Background())
	var load sync.WaitGroup
	defer func() { stopLoad(); load.Wait() }()
	cl := startCrashLoad(ctx, &load, smtpSource, addr, 2, 40*time.Millisecond, "20")
	waitFor(t, "load acknowledged before the outage", 30*time.Second, func() bool { return len(cl.ac.ackedIDs()) >= 20 })

	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	var refused string
	waitFor(t, "a 451 while the database is down", 30*time.Second, func() bool {
		err := trySubmit(addr, "probe@example.com", []string{"probe@example.net"}, "Subject: probe\r\n\r\nx\r\n")
		if err != nil && strings.Contains(err.Error(), "451") {
			refused = err.Error()
			return true
		}
		if err == nil {
			t.Errorf("a submission got 250 while the database was down")
		}
		return false
	})
	ackedDown := len(cl.ac.ackedIDs())
	// The outage lasts a while under load: the load is the scenario.
	time.Sleep(2 * time.Second)
	if n := len(cl.ac.ackedIDs()); n != ackedDown {
		t.Errorf("%d messages acknowledged while the database was down", n-ackedDown)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "acceptance after the database is back", 60*time.Second, func() bool { return len(cl.ac.ackedIDs()) > ackedDown+10 })
	stopLoad()
	load.Wait()
	defer func() {
		if t.Failed() {
			l := d.log.String()
			t.Logf("daemon log (tail):\n%s", l[max(0, len(l)-6000):])
			t.Logf("queue: %v", d.cli("queue", "list"))
		}
	}()
	d.waitQueueEmpty(40 * time.Second)

	tl := tallyCrashRun(t, d, mx, cl.ac)
	if tl.lost != 0 {
		t.Errorf("%d messages lost", tl.lost)
	}
	summary(t, "postgres outage: acknowledged=%d (tagged) delivered=%d spooled=%d (%d from smtp-source) lost=%d duplicated=%d; refused while down: %s",
		len(cl.ac.acked), countAcked(cl.ac.acked, tl.byTag), len(tl.byID), tl.fromSource, tl.lost, tl.dups, refused)
}

// TestPostgresThreeNodesKill9: three daemons share one database under
// smtp-source and tagging load on each; one is killed with SIGKILL
// mid-load. Every acknowledged message is delivered; the dead node's
// claimed messages are delivered by the others once its leases end;
// duplicates are at most what the dead node had in flight (its remote-250
// window). Any node's CLI sees the whole queue.
func TestPostgresThreeNodesKill9(t *testing.T) {
	smtpSource := needSMTPSource(t)
	url := pg.Get(t).NewDatabase(t)
	w := newMXWorld(t, "example.net. MX 10 mx.example.net.", "mx.example.net. A 127.0.0.2")
	mx := w.mx(t, "127.0.0.2", smtptest.Options{})
	const (
		perDest = 8
		lease   = 3 * time.Second
	)
	var nodes []*daemon
	for range 3 {
		dir := t.TempDir()
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
		cfg := w.config(t, dir, addr, fmt.Sprintf("max_connections = 16\nmax_per_destination = %d", perDest))
		nodes = append(nodes, startDaemon(t, dir, postgresConfig(cfg, url, lease.String()), addr))
	}
	ctx, stopLoad := context.WithCancel(context.Background())
	var load sync.WaitGroup
	defer func() { stopLoad(); load.Wait() }()
	var loads []*crashLoad
	for _, d := range nodes {
		loads = append(loads, startCrashLoad(ctx, &load, smtpSource, d.smtp, 1, 50*time.Millisecond, "10"))
	}
	waitFor(t, "load on every node", 60*time.Second, func() bool {
		for _, cl := range loads {
			if len(cl.ac.ackedIDs()) < 15 {
				return false
			}
		}
		return true
	})
	dead := nodes[2]
	dead.kill9()
	killed := time.Now()
	waitFor(t, "load on the live nodes after the kill", 60*time.Second, func() bool {
		return len(loads[0].ac.ackedIDs()) > 40 && len(loads[1].ac.ackedIDs()) > 40
	})
	stopLoad()
	load.Wait()
	defer func() {
		if t.Failed() {
			for i, d := range nodes[:2] {
				l := d.log.String()
				t.Logf("node %d log (tail):\n%s", i, l[max(0, len(l)-3000):])
			}
		}
	}()
	nodes[0].waitQueueEmpty(90 * time.Second)
	drained := time.Since(killed)

	// The loads' tags overlap (each counts from 1): acknowledgements are
	// matched by queue ID (countLost); tallyCrashRun checks that every
	// spooled message, read through another node's CLI, was delivered.
	tl := tallyCrashRun(t, nodes[1], mx, &ackClient{acked: map[int64]bool{}})
	lost := tl.lost
	for _, cl := range loads {
		lost += countLost(t, mx, cl.ac)
	}
	if tl.dups > perDest {
		t.Errorf("%d duplicate deliveries, want at most %d (what the dead node had in flight)", tl.dups, perDest)
	}
	acked := 0
	for _, cl := range loads {
		acked += len(cl.ac.ackedIDs())
	}
	summary(t, "postgres 3 nodes, 1 kill -9: acknowledged=%d spooled=%d (%d from smtp-source) delivered=%d lost=%d duplicated=%d, queue empty %v after the kill (lease %v)",
		acked, tl.spooled, tl.fromSource, len(tl.byID), lost, tl.dups, drained.Round(100*time.Millisecond), lease)
}

// countLost fails t for every message ac got a 250 for whose queue ID
// never reached mx, and counts them.
func countLost(t *testing.T, mx *smtptest.Server, ac *ackClient) int {
	t.Helper()
	seen := map[string]bool{}
	for _, m := range mx.Messages() {
		if id := queueIDRE.FindSubmatch(m.Data); id != nil {
			seen[string(id[1])] = true
		}
	}
	lost := 0
	for tag, id := range ac.ackedIDs() {
		if !seen[id] {
			lost++
			t.Errorf("message %s (tag %d) got a 250 but was never delivered", id, tag)
		}
	}
	return lost
}

// TestPostgresPausedNodeFenced: a node stopped with SIGSTOP mid-delivery,
// past its lease, cannot commit its stale outcome. Node A's delivery
// hangs at the MX's reply to the final dot; A is stopped; node B takes
// the message over when A's lease ends and gets a 451 (deferred); A is
// continued and the MX answers its stale transaction with a 550. Without
// fencing, A would record a bounce over B's deferral (a bounce log row, a
// notice to the sender); with it, A's outcome is dropped.
func TestPostgresPausedNodeFenced(t *testing.T) {
	url := pg.Get(t).NewDatabase(t)
	w := newMXWorld(t, "example.net. MX 10 mx.example.net.", "mx.example.net. A 127.0.0.2")
	inData, release := make(chan struct{}), make(chan struct{})
	var calls atomicInt
	w.mx(t, "127.0.0.2", smtptest.Options{Data: func(*smtptest.Message) error {
		if calls.add() == 1 {
			close(inData)
			<-release
			return smtptest.Reply(550, "5.7.1", "stale attempt refused")
		}
		return smtptest.Reply(451, "4.3.0", "try later")
	}})
	const lease = "2s"
	start := func() *daemon {
		dir := t.TempDir()
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
		return startDaemon(t, dir, postgresConfig(w.config(t, dir, addr, ""), url, lease), addr)
	}
	a := start()
	submit(t, a.smtp, "app@example.com", []string{"user@example.net"}, "Subject: fenced\r\n\r\nhello\r\n")
	select {
	case <-inData:
	case <-time.After(60 * time.Second):
		t.Fatal("node A never reached the final dot")
	}
	a.cmd.Process.Signal(syscall.SIGSTOP)
	continued := false
	defer func() {
		if !continued {
			a.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	b := start()
	waitFor(t, "node B to attempt A's message after A's lease ended", 60*time.Second, func() bool {
		return strings.Contains(b.log.String(), "msg=deferred")
	})
	a.cmd.Process.Signal(syscall.SIGCONT)
	continued = true
	close(release)
	waitFor(t, "node A to handle its stale outcome", 60*time.Second, func() bool {
		l := a.log.String()
		return strings.Contains(l, "outcome dropped") || strings.Contains(l, "msg=bounced")
	})
	if !strings.Contains(a.log.String(), "lease lost during delivery; outcome dropped") {
		t.Errorf("node A did not drop its stale outcome")
	}
	for _, m := range b.queueJSONArgs("--done") {
		if st, ok := recipients(m)["user@example.net"]; ok && st != "deferred" {
			t.Errorf("the message is %s after A's stale outcome, want B's deferral", st)
		}
	}
	if out := b.cli("queue", "bounces"); strings.Contains(out, "user@example.net") {
		t.Errorf("A's stale 550 reached the bounce log:\n%s", out)
	}
	summary(t, "postgres paused node: SIGSTOP past a %s lease, the other node took the message over, the stale outcome was fenced off", lease)
}

// atomicInt counts hook calls.
type atomicInt struct {
	mu sync.Mutex
	n  int
}

func (c *atomicInt) add() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.n
}

// TestPostgresSharedEventsAndSuppressions: two daemons on one database
// share the event log and the suppression list. Messages submitted to one
// node are in the other's event feed, accepted then delivered, numbered
// by one sequence; an address suppressed through one node's CLI is not
// attempted by the other, which bounces it with class "suppressed".
func TestPostgresSharedEventsAndSuppressions(t *testing.T) {
	url := pg.Get(t).NewDatabase(t)
	w := newMXWorld(t, "example.net. MX 10 mx.example.net.", "mx.example.net. A 127.0.0.2")
	mx := w.mx(t, "127.0.0.2", smtptest.Options{})
	var nodes []*daemon
	for range 2 {
		dir := t.TempDir()
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
		nodes = append(nodes, startDaemon(t, dir, postgresConfig(w.config(t, dir, addr, ""), url, "10s"), addr))
	}
	a, b := nodes[0], nodes[1]
	const n = 4
	for i := range n {
		if err := trySubmit(a.smtp, "app@example.com", []string{fmt.Sprintf("r%d@example.net", i)}, "Subject: x\r\n\r\nx\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	b.waitQueueEmpty(30 * time.Second)
	a.cli("suppressions", "add", "gone@example.net", "--note", "asked to stop")
	if err := trySubmit(b.smtp, "app@example.com", []string{"gone@example.net"}, "Subject: y\r\n\r\ny\r\n"); err != nil {
		t.Fatal(err)
	}
	var evs []map[string]any
	waitFor(t, "the suppressed address bounced, in node a's feed", 30*time.Second, func() bool {
		evs = evs[:0]
		for _, line := range strings.Split(strings.TrimSpace(a.cli("events", "--json")), "\n") {
			var e map[string]any
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("events --json line %q: %v", line, err)
			}
			evs = append(evs, e)
		}
		last := evs[len(evs)-1]
		return last["type"] == "bounced" && last["recipient"] == "gone@example.net"
	})
	if c := evs[len(evs)-1]["class"]; c != "suppressed" {
		t.Errorf("bounce of a suppressed address: class %v", c)
	}
	count := map[string]int{}
	for i, e := range evs {
		count[e["type"].(string)]++
		if i > 0 && e["seq"].(float64) <= evs[i-1]["seq"].(float64) {
			t.Errorf("event %d numbered %v after %v", i, e["seq"], evs[i-1]["seq"])
		}
	}
	if count["accepted"] != n+1 || count["delivered"] != n || count["bounced"] != 1 {
		t.Errorf("events by type %v; want %d accepted, %d delivered, 1 bounced", count, n+1, n)
	}
	if got := len(mx.Messages()); got != n {
		t.Errorf("%d messages reached the MX, want %d (the suppressed one never attempted)", got, n)
	}
	if out := b.cli("suppressions", "list"); !strings.Contains(out, "gone@example.net") {
		t.Errorf("node b's suppression list lacks node a's entry:\n%s", out)
	}
}
