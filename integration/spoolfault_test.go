package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/outbox-mta/outbox/delivery/smtptest"
	"github.com/outbox-mta/outbox/store/fsfault"
)

// TestOutcomeCommitFault makes every fdatasync of the running daemon fail
// with ENOSPC for five seconds (strace) while the MX accepts a message:
// the daemon must not re-send it in a loop because it cannot record
// "delivered". It pauses delivery, says so (log, queue stats), and resumes
// by itself once the spool accepts commits again.
func TestOutcomeCommitFault(t *testing.T) {
	w := newMXWorld(t,
		"example.net. MX 10 mx.example.net.",
		"mx.example.net. A 127.0.0.2",
	)
	// The first attempt is refused. Every later one is accepted, but only
	// once the fault is in place: a retry that comes while strace is still
	// attaching (slow on a loaded machine) would otherwise be refused and
	// its deferral fail to commit, pausing delivery for the whole fault.
	var accept atomic.Bool
	injected := make(chan struct{})
	var injectedOnce sync.Once
	faultIn := func() { injectedOnce.Do(func() { close(injected) }) }
	t.Cleanup(faultIn) // never leave the MX's session waiting
	mx := w.mx(t, "127.0.0.2", smtptest.Options{Data: func(*smtptest.Message) error {
		if !accept.Load() {
			return smtptest.Reply(451, "4.3.0", "not yet")
		}
		<-injected
		return nil
	}})
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	d := startDaemon(t, dir, w.config(t, dir, addr, ""), addr)

	// Deferred once, and that recorded, before the fault: its retry (1s
	// later) is the delivery whose outcome cannot be committed.
	submit(t, addr, "fault@example.com", []string{"a@example.net"},
		"From: fault@example.com\r\nSubject: commit fault\r\n\r\nbody\r\n")
	d.waitStates("fault@example.com", map[string]string{"a@example.net": "deferred"}, 30*time.Second)

	const fault = 5 * time.Second
	accept.Store(true)
	detach := fsfault.Inject(t, d.cmd.Process.Pid, "fdatasync", "error=ENOSPC")
	faultIn()
	// strace slows the daemon a lot on a loaded machine: the measured
	// window starts at the first delivery, however long that takes.
	waitFor(t, "a delivery during the fault", 60*time.Second, func() bool { return len(mx.Messages()) > 0 })
	start := time.Now()
	waitFor(t, "queue stats --json to show delivery paused", 30*time.Second, func() bool {
		var s struct {
			Dispatch struct {
				Paused         bool   `json:"paused"`
				Reason         string `json:"reason"`
				CommitFailures int    `json:"commit_failures"`
			} `json:"dispatch"`
		}
		if err := json.Unmarshal([]byte(d.cli("queue", "stats", "--json")), &s); err != nil {
			t.Fatal(err)
		}
		return s.Dispatch.Paused && strings.Contains(s.Dispatch.Reason, "no space") && s.Dispatch.CommitFailures > 0
	})
	if out := d.cli("queue", "stats"); !strings.Contains(out, "delivery: PAUSED") {
		t.Errorf("queue stats does not show the pause:\n%s", out)
	}
	// The fault lasts its full length: what is measured is how many copies
	// the MX gets during it.
	time.Sleep(time.Until(start.Add(fault)))
	during := len(mx.Messages())
	detach()

	d.waitStates("fault@example.com", map[string]string{"a@example.net": "delivered"}, 60*time.Second)
	total := len(mx.Messages())
	summary(t, "copies delivered during a %v ENOSPC fault on every fdatasync: %d; in all: %d", fault, during, total)
	if during > 3 {
		t.Errorf("the MX got %d copies during the fault, want at most 3", during)
	}
	log := d.log.String()
	for _, want := range []string{"spool refuses commits: delivery paused", "spool accepts commits again: delivery resumes"} {
		if !strings.Contains(log, want) {
			t.Errorf("daemon log lacks %q", want)
		}
	}
	if out := d.cli("queue", "stats"); strings.Contains(out, "PAUSED") {
		t.Errorf("queue stats still shows a pause:\n%s", out)
	}
}

// TestSpoolFailStop makes every second fdatasync of each daemon thread
// fail with EIO while clients submit: after such a failure the spool's
// state on disk is unknown, so the daemon answers 451, delivers nothing
// more, exits with status 75, and after a restart on the same spool every
// message that got 250 is delivered.
func TestSpoolFailStop(t *testing.T) {
	w := newMXWorld(t,
		"example.net. MX 10 mx.example.net.",
		"mx.example.net. A 127.0.0.2",
	)
	mx := w.mx(t, "127.0.0.2", smtptest.Options{})
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	d := startDaemon(t, dir, w.config(t, dir, addr, ""), addr)
	send := func(n int) error {
		return trySubmit(addr, "failstop@example.com", []string{"a@example.net"},
			fmt.Sprintf("From: failstop@example.com\r\nX-Test-Tag: %d\r\nSubject: %d\r\n\r\nbody\r\n", n, n))
	}
	var (
		mu      sync.Mutex
		ok, bad []int // tags answered 250, 451
		tag     atomic.Int32
		wg      sync.WaitGroup
	)
	// Accepted before the fault, and being delivered when it strikes.
	for n := 1001; n <= 1020; n++ {
		if err := send(n); err != nil {
			t.Fatal(err)
		}
		ok = append(ok, n)
	}
	fsfault.Inject(t, d.cmd.Process.Pid, "fdatasync", "error=EIO:when=2+2")
	for range 4 {
		wg.Go(func() {
			for {
				n := int(tag.Add(1))
				if n > 100 {
					return
				}
				err := send(n)
				var se *smtp.SMTPError
				refused := errors.As(err, &se) && se.Code == 451
				mu.Lock()
				switch {
				case err == nil:
					ok = append(ok, n)
				case refused:
					bad = append(bad, n)
				}
				mu.Unlock()
				if err != nil && !refused {
					return // the daemon is gone
				}
			}
		})
	}
	wg.Wait()
	if len(bad) == 0 {
		t.Fatalf("no submission got 451 (%d got 250)", len(ok))
	}
	select {
	case <-d.exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("the daemon did not exit after the spool failed; of %d messages answered 451, %d were delivered meanwhile",
			len(bad), countTags(mx, bad))
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 75 {
		t.Errorf("exit status %d, want 75", code)
	}
	if log := d.log.String(); !strings.Contains(log, "spool failed") || !strings.Contains(log, "spool.db") {
		t.Errorf("the log does not say the spool failed, naming its file:\n%s", log)
	}
	badBefore := countTags(mx, bad)

	d.start()
	d.waitQueueEmpty(60 * time.Second)
	delivered := tagsSeen(mx)
	for _, n := range ok {
		if delivered[n] == 0 {
			t.Errorf("message %d got 250 but was not delivered after the restart", n)
		}
	}
	summary(t, "250: %d, 451: %d; 451'd delivered before the exit: %d, after the restart: %d (the duplicate window)",
		len(ok), len(bad), badBefore, countTags(mx, bad)-badBefore)
	if badBefore != 0 {
		t.Errorf("%d messages answered 451 were delivered by the failed daemon", badBefore)
	}
}

// tagsSeen counts the MX's messages by X-Test-Tag.
func tagsSeen(mx *smtptest.Server) map[int]int {
	seen := map[int]int{}
	for _, m := range mx.Messages() {
		if tag := tagRE.FindSubmatch(m.Data); tag != nil {
			var n int
			fmt.Sscan(string(tag[1]), &n)
			seen[n]++
		}
	}
	return seen
}

// countTags is how many of tags the MX received (copies included).
func countTags(mx *smtptest.Server, tags []int) int {
	seen := tagsSeen(mx)
	n := 0
	for _, t := range tags {
		n += seen[t]
	}
	return n
}
