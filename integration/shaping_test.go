package integration

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery/smtptest"
)

// arrivals records when a receiver accepted each message.
type arrivals struct {
	mu sync.Mutex
	at []time.Time
}

func (a *arrivals) data(*smtptest.Message) error {
	a.mu.Lock()
	a.at = append(a.at, time.Now())
	a.mu.Unlock()
	return nil
}

func (a *arrivals) times() []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Time(nil), a.at...)
}

func (a *arrivals) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.at)
}

// inWindow counts the arrivals in [from, from+d).
func inWindow(ts []time.Time, from time.Time, d time.Duration) int {
	n := 0
	for _, t := range ts {
		if !t.Before(from) && t.Before(from.Add(d)) {
			n++
		}
	}
	return n
}

// explainJSON is `outbox queue explain ID --json`, decoded.
func (d *daemon) explainJSON(id string) []map[string]any {
	d.t.Helper()
	var out struct {
		Recipients []map[string]any `json:"recipients"`
	}
	raw := d.cli("queue", "explain", id, "--json")
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		d.t.Fatalf("queue explain --json: %v\n%s", err, raw)
	}
	return out.Recipients
}

// throttled is the throttled list of `outbox queue stats --json`.
func (d *daemon) throttled() []map[string]any {
	d.t.Helper()
	var s struct {
		Throttled []map[string]any `json:"throttled"`
	}
	raw := d.cli("queue", "stats", "--json")
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		d.t.Fatalf("queue stats --json: %v\n%s", err, raw)
	}
	return s.Throttled
}

// pendingID returns the ID of a pending message to domain.
func (d *daemon) pendingID(domain string) string {
	d.t.Helper()
	var page struct {
		Messages []map[string]any `json:"messages"`
	}
	raw := d.cli("queue", "list", "--json", "--domain", domain, "--limit", "50")
	if err := json.Unmarshal([]byte(raw), &page); err != nil || len(page.Messages) == 0 {
		d.t.Fatalf("no pending message to %s (%v):\n%s", domain, err, raw)
	}
	return page.Messages[len(page.Messages)-1]["id"].(string)
}

// A destination limited to N messages a minute receives N a minute over a
// measured window, within 10 %, while another destination is delivered at
// full speed; a message waiting for its slot is explained as rate-limited
// and charged no attempt.
func TestShapingRateHoldsPerDestination(t *testing.T) {
	const perMinute = 600 // 10/s
	const window = 20 * time.Second
	w := newMXWorld(t,
		"limited.test. MX 10 mx.limited.test.", "mx.limited.test. A 127.0.0.2",
		"fast.test. MX 10 mx.fast.test.", "mx.fast.test. A 127.0.0.3",
	)
	var limited, fast arrivals
	w.mx(t, "127.0.0.2", smtptest.Options{Data: limited.data})
	w.mx(t, "127.0.0.3", smtptest.Options{Data: fast.data})
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	cfg := w.config(t, dir, addr, fmt.Sprintf(`
[[shaping]]
name = "limited"
domains = ["limited.test"]
per_minute = %d
`, perMinute))
	d := startDaemon(t, dir, cfg, addr)

	// Enough for the window and a second of lead-in, interleaved with mail
	// to the fast destination.
	const nLimited, nFast = 230, 200
	start := time.Now()
	for i := range nLimited {
		submit(t, addr, "app@sender.test", []string{fmt.Sprintf("u%d@limited.test", i)}, "Subject: l\r\n\r\nx\r\n")
		if i < nFast {
			submit(t, addr, "app@sender.test", []string{fmt.Sprintf("u%d@fast.test", i)}, "Subject: f\r\n\r\nx\r\n")
		}
	}
	submitted := time.Since(start)
	submitEnd := time.Now()
	waitFor(t, "the fast destination's mail", 60*time.Second, func() bool { return fast.count() == nFast })
	ft := fast.times()
	fastSpan := ft[len(ft)-1].Sub(ft[0])

	id := d.pendingID("limited.test")
	es := d.explainJSON(id)
	if len(es) != 1 || es[0]["reason"] != "rate-limited" || es[0]["rule"] != "limited" || es[0]["attempts"].(float64) != 0 {
		t.Errorf("explain of a limited message waiting for its slot: %v", es)
	}
	if th := d.throttled(); len(th) != 1 || th[0]["destination"] != "limited" || th[0]["state"] != "rate-limited" {
		t.Errorf("stats throttled = %v, want limited rate-limited", th)
	}

	first := limited.times()[0]
	waitFor(t, "the measured window", window+30*time.Second, func() bool {
		return time.Since(first) > window+time.Second+500*time.Millisecond
	})
	got := inWindow(limited.times(), first.Add(time.Second), window)
	want := int(perMinute * window / time.Minute)
	perMin := float64(got) * float64(time.Minute) / float64(window)
	summary(t, "shaping accuracy: limit %d msg/min, measured %.0f msg/min over %s (%d messages, %+.1f %%); fast destination %d messages in %.2fs (%.0f msg/min, bounded by submission: %d messages in %.1fs) while limited got %d",
		perMinute, perMin, window, got, 100*(perMin-perMinute)/perMinute, nFast, fastSpan.Seconds(), float64(nFast)/fastSpan.Minutes(),
		nLimited+nFast, submitted.Seconds(), inWindow(limited.times(), ft[0], fastSpan+time.Nanosecond))
	if got < want*9/10 || got > want*11/10 {
		t.Errorf("limited destination received %d in %s, want %d ±10 %%", got, window, want)
	}
	// The fast destination keeps pace with submission (which bounds it
	// here): its last message arrives right after the last submission,
	// not at the limited destination's pace.
	if lag := ft[len(ft)-1].Sub(submitEnd); lag > 3*time.Second {
		t.Errorf("fast destination's last message arrived %s after the last submission: it was held back", lag)
	}
	if limitedThen := inWindow(limited.times(), ft[0], fastSpan+time.Nanosecond); limitedThen >= nFast/2 {
		t.Errorf("limited destination received %d while the fast one received %d: not limited", limitedThen, nFast)
	}
}

// A receiver answering 421 4.7.28 slows its destination, and only it;
// queue explain names the reply; when the replies stop the destination
// recovers and its mail is delivered.
func TestShapingSlowsOn421AndRecovers(t *testing.T) {
	w := newMXWorld(t,
		"slow.test. MX 10 mx.slow.test.", "mx.slow.test. A 127.0.0.2",
		"fast.test. MX 10 mx.fast.test.", "mx.fast.test. A 127.0.0.3",
	)
	var throttling atomic.Bool
	throttling.Store(true)
	var slowMails atomic.Int32
	var slowOK, fast arrivals
	w.mx(t, "127.0.0.2", smtptest.Options{
		Mail: func(string) error {
			slowMails.Add(1)
			if throttling.Load() {
				return smtptest.Reply(421, "4.7.28", "Our system has detected an unusual rate of unsolicited mail originating from your IP address")
			}
			return nil
		},
		Data: slowOK.data,
	})
	w.mx(t, "127.0.0.3", smtptest.Options{Data: fast.data})
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	d := startDaemon(t, dir, w.config(t, dir, addr, `throttle_recovery = "1s"`), addr)

	submit(t, addr, "app@sender.test", []string{"first@slow.test"}, "Subject: s\r\n\r\nx\r\n")
	waitFor(t, "slow.test throttled", 30*time.Second, func() bool {
		th := d.throttled()
		return len(th) == 1 && th[0]["destination"] == "slow.test" && th[0]["state"] == "throttled" &&
			strings.Contains(th[0]["reply"].(string), "4.7.28")
	})
	for i := range 5 {
		submit(t, addr, "app@sender.test", []string{fmt.Sprintf("s%d@slow.test", i)}, "Subject: s\r\n\r\nx\r\n")
	}
	mailsBefore := slowMails.Load()
	fastStart := time.Now()
	for i := range 50 {
		submit(t, addr, "app@sender.test", []string{fmt.Sprintf("f%d@fast.test", i)}, "Subject: f\r\n\r\nx\r\n")
	}
	waitFor(t, "fast.test delivered", 30*time.Second, func() bool { return fast.count() == 50 })
	fastTook := time.Since(fastStart)
	slowTries := slowMails.Load() - mailsBefore
	if slowTries > 3 {
		t.Errorf("slow.test got %d transactions while fast.test received 50: it is not slowed", slowTries)
	}
	// A waiting slow.test message is explained by the reply.
	var why map[string]any
	waitFor(t, "a throttled explanation", 20*time.Second, func() bool {
		for _, m := range d.decodeList(d.cli("queue", "list", "--json", "--domain", "slow.test")) {
			es := d.explainJSON(m["id"].(string))
			if len(es) == 1 && es[0]["reason"] == "throttled" {
				why = es[0]
				return true
			}
		}
		return false
	})
	if !strings.Contains(why["reply"].(string), "421 4.7.28") || why["rule"] != "slow.test" || why["since"] == nil ||
		!strings.Contains(why["sentence"].(string), "slowed it to") {
		t.Errorf("explanation of a throttled message: %v", why)
	}

	throttling.Store(false)
	recoverStart := time.Now()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("queue:\n%s\nstats:\n%s\ndaemon log:\n%s", d.cli("queue", "list"), d.cli("queue", "stats"), d.log.String())
		}
	})
	d.waitQueueEmpty(90 * time.Second)
	waitFor(t, "slow.test recovered", 30*time.Second, func() bool { return len(d.throttled()) == 0 })
	if n := slowOK.count(); n != 6 {
		t.Errorf("slow.test received %d messages, want 6", n)
	}
	summary(t, "adaptive reaction: while slow.test answered 421 4.7.28 it got %d transactions as fast.test received 50 in %.2fs; after the replies stopped its 6 messages were delivered and it recovered in %.1fs",
		slowTries, fastTook.Seconds(), time.Since(recoverStart).Seconds())
}
