package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery/smtptest"
)

// hookSecret signs the test endpoints' requests.
const hookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// hookCall is one request a hookReceiver got, and its answer.
type hookCall struct {
	ID, Timestamp, Signature string
	Body                     []byte
	Seqs                     []uint64
	Status                   int // 0: the answer was lost (the daemon was killed)
}

// hookReceiver is a webhook endpoint on a fixed loopback address that can
// go down (refusing connections) and come back; answer decides each
// call's status (n counts calls from 1).
type hookReceiver struct {
	t      *testing.T
	addr   string
	answer func(n int, c *hookCall) int

	mu    sync.Mutex
	srv   *http.Server
	calls []*hookCall
}

func newHookReceiver(t *testing.T, answer func(n int, c *hookCall) int) *hookReceiver {
	h := &hookReceiver{t: t, addr: fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1")), answer: answer}
	h.up()
	t.Cleanup(h.down)
	return h
}

func (h *hookReceiver) url() string { return "http://" + h.addr + "/hook" }

func (h *hookReceiver) up() {
	h.t.Helper()
	l, err := net.Listen("tcp", h.addr)
	if err != nil {
		h.t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	h.mu.Lock()
	h.srv = srv
	h.mu.Unlock()
	go srv.Serve(l)
}

func (h *hookReceiver) down() {
	h.mu.Lock()
	srv := h.srv
	h.mu.Unlock()
	srv.Close()
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c := &hookCall{ID: r.Header.Get("webhook-id"), Timestamp: r.Header.Get("webhook-timestamp"),
		Signature: r.Header.Get("webhook-signature"), Body: body}
	var b struct {
		Type string `json:"type"`
		Data struct {
			Events []event `json:"events"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.Type != "outbox.events" {
		h.t.Errorf("webhook body %q: %v", body, err)
	}
	for _, e := range b.Data.Events {
		if e.QueueID == "" || e.Type == "" {
			h.t.Errorf("event without its fields: %+v", e)
		}
		c.Seqs = append(c.Seqs, e.Seq)
	}
	h.mu.Lock()
	h.calls = append(h.calls, c)
	n := len(h.calls)
	h.mu.Unlock()
	status := h.answer(n, c)
	h.mu.Lock()
	c.Status = status
	h.mu.Unlock()
	if status != 0 {
		w.WriteHeader(status)
	}
}

// snapshot returns a copy of the calls so far.
func (h *hookReceiver) snapshot() []hookCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]hookCall, len(h.calls))
	for i, c := range h.calls {
		out[i] = *c
	}
	return out
}

// acked is the events of the calls answered 2xx, in the order received.
func acked(calls []hookCall) []uint64 {
	var out []uint64
	for _, c := range calls {
		if c.Status >= 200 && c.Status < 300 {
			out = append(out, c.Seqs...)
		}
	}
	return out
}

// checkOrder holds the calls to in-order delivery: each call's events are
// increasing and none starts past the highest event received before it
// plus one (a re-send may go back, never skip ahead).
func checkOrder(t *testing.T, calls []hookCall) {
	t.Helper()
	var high uint64
	for i, c := range calls {
		for j, s := range c.Seqs {
			if j > 0 && s <= c.Seqs[j-1] {
				t.Fatalf("call %d (%s): events out of order %v", i+1, c.ID, c.Seqs)
			}
		}
		if len(c.Seqs) > 0 && c.Seqs[0] > high+1 {
			t.Fatalf("call %d (%s) starts at %d, after %d: a gap", i+1, c.ID, c.Seqs[0], high)
		}
		if len(c.Seqs) > 0 {
			high = max(high, c.Seqs[len(c.Seqs)-1])
		}
	}
}

// verifySignatures checks every call's Standard Webhooks signature with
// Python's hmac and hashlib, in one process.
func verifySignatures(t *testing.T, calls []hookCall) {
	t.Helper()
	py := needTool(t, "/usr/bin/python3")
	dir := t.TempDir()
	var lines []string
	for i, c := range calls {
		path := filepath.Join(dir, fmt.Sprint(i))
		writeFile(t, path, string(c.Body))
		lines = append(lines, strings.Join([]string{c.ID, c.Timestamp, c.Signature, path}, "\t"))
	}
	script := `
import base64, hashlib, hmac, sys
key = base64.b64decode(sys.argv[1][len("whsec_"):])
bad = 0
for line in sys.stdin.read().splitlines():
    msg_id, ts, sig, path = line.split("\t")
    body = open(path, "rb").read()
    want = "v1," + base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()
    if not any(hmac.compare_digest(want, s) for s in sig.split(" ")):
        print("bad signature:", msg_id, sig); bad += 1
print("checked")
sys.exit(1 if bad else 0)
`
	cmd := exec.Command(py, "-c", script, hookSecret)
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n"))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "checked") {
		t.Fatalf("python rejects signatures: %v\n%s", err, out)
	}
}

// webhookStatus is `outbox webhooks status --json`.
type webhookStatus struct {
	Endpoints []struct {
		Name      string `json:"name"`
		Cursor    uint64 `json:"cursor"`
		Failed    bool   `json:"failed"`
		LastError string `json:"last_error"`
	} `json:"endpoints"`
	LastEvent uint64 `json:"last_event"`
}

func (d *daemon) webhookStatus() webhookStatus {
	d.t.Helper()
	var s webhookStatus
	if err := json.Unmarshal([]byte(d.cli("webhooks", "status", "--json")), &s); err != nil {
		d.t.Fatal(err)
	}
	return s
}

// webhookWorld is a daemon delivering into an MX world, with one webhook
// endpoint at url and the HTTP API.
func webhookWorld(t *testing.T, hookURL string, extra ...string) (*daemon, string) {
	t.Helper()
	w := newMXWorld(t, "example.net. MX 10 mx.example.net.", "mx.example.net. A 127.0.0.3")
	w.mx(t, "127.0.0.3", smtptest.Options{})
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	api := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	d := startDaemon(t, dir, w.config(t, dir, addr, fmt.Sprintf(`
[api]
address = %q
[[webhooks]]
name = "app"
url = %q
secret = %q
first_retry = "100ms"
max_retry_interval = "500ms"
timeout = "5s"
%s
`, api, hookURL, hookSecret, strings.Join(extra, "\n"))), addr)
	return d, api
}

// TestWebhooksOutageInOrder: an endpoint that fails its first calls, then
// is down for a while, then answers, receives every event of the log
// exactly once among its 2xx answers, in sequence order, each request
// signed (checked by Python); the failed calls were the same batch.
func TestWebhooksOutageInOrder(t *testing.T) {
	const failFirst = 3
	h := newHookReceiver(t, func(n int, _ *hookCall) int {
		if n <= failFirst {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	d, api := webhookWorld(t, h.url())
	send := func(n int) {
		for i := range n {
			postMessage(t, api, fmt.Sprintf(`{"from":"app@example.net","to":["a%d@example.net","b%d@example.net"],"text":"x"}`, i, i))
		}
	}
	send(3)
	waitFor(t, "the failing calls", 30*time.Second, func() bool { return len(h.snapshot()) >= failFirst })
	h.down()
	send(3)
	waitFor(t, "the daemon to see the endpoint down", 30*time.Second, func() bool {
		s := d.webhookStatus()
		return len(s.Endpoints) == 1 && strings.Contains(s.Endpoints[0].LastError, "connection refused")
	})
	d.waitQueueEmpty(30 * time.Second)
	h.up()
	var want []uint64
	waitFor(t, "every event acknowledged", 60*time.Second, func() bool {
		s := d.webhookStatus()
		want = seqRange(s.LastEvent)
		return s.LastEvent > 0 && s.Endpoints[0].Cursor == s.LastEvent
	})
	if n := len(d.events()); n != len(want) || n != 6*4 {
		t.Fatalf("the log has %d events, the status says %d; want 24", n, len(want))
	}
	calls := h.snapshot()
	checkOrder(t, calls)
	if got := acked(calls); !slices.Equal(got, want) {
		t.Fatalf("events acknowledged %v, want each of 1..%d exactly once, in order", got, len(want))
	}
	for i := range failFirst {
		if calls[i].Status != http.StatusInternalServerError || calls[i].ID != calls[failFirst].ID {
			t.Fatalf("call %d: %s answered %d; want the batch %s retried", i+1, calls[i].ID, calls[i].Status, calls[failFirst].ID)
		}
	}
	verifySignatures(t, calls)
	if out := d.cli("webhooks", "status"); !regexp.MustCompile(fmt.Sprintf(`(?m)^app\s+ok\s+%d/%d\s`, len(want), len(want))).MatchString(out) {
		t.Errorf("outbox webhooks status:\n%s", out)
	}
	if out := d.cli("webhooks", "redeliver", "app"); !strings.Contains(out, "resumed from their cursors: app") {
		t.Errorf("outbox webhooks redeliver app: %s", out)
	}
	if out, err := d.cliErr("events", "redeliver", "nope"); err == nil || !strings.Contains(out, `no such webhook endpoint: "nope"`) {
		t.Errorf("outbox events redeliver nope: %v %s", err, out)
	}
	if strings.Contains(d.log.String(), strings.TrimPrefix(hookSecret, "whsec_")) {
		t.Fatal("the daemon logged the secret")
	}
	summary(t, "%d events to a webhook that failed %d calls then was down: %d requests, every event acknowledged once, in order; %d signatures verified by Python",
		len(want), failFirst, len(calls), len(calls))
}

// TestWebhooksKill9LosesNoEvent: the daemon killed while a request is in
// flight (its answer lost) sends that batch again after the restart;
// every event reaches the endpoint, in order, and only the lost call's
// events come twice.
func TestWebhooksKill9LosesNoEvent(t *testing.T) {
	held := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	h := newHookReceiver(t, func(n int, _ *hookCall) int {
		if n == 2 {
			once.Do(func() { close(held) })
			<-release
			return 0 // the daemon is gone: nobody reads this answer
		}
		return http.StatusOK
	})
	d, api := webhookWorld(t, h.url())
	post := func(i int) {
		postMessage(t, api, fmt.Sprintf(`{"from":"app@example.net","to":["k%d@example.net"],"text":"x"}`, i))
	}
	post(0)
	waitFor(t, "the first call answered", 30*time.Second, func() bool {
		c := h.snapshot()
		return len(c) >= 1 && c[0].Status == http.StatusOK
	})
	post(1)
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("no second webhook call")
	}
	d.kill9()
	close(release)
	d.start()
	post(2)
	post(3)
	d.waitQueueEmpty(30 * time.Second)
	var want []uint64
	waitFor(t, "every event acknowledged after the kill", 60*time.Second, func() bool {
		s := d.webhookStatus()
		want = seqRange(s.LastEvent)
		return s.LastEvent > 0 && s.Endpoints[0].Cursor == s.LastEvent
	})
	calls := h.snapshot()
	checkOrder(t, calls)
	lost := map[uint64]bool{}
	for _, s := range calls[1].Seqs {
		lost[s] = true
	}
	seen := map[uint64]int{}
	for _, c := range calls {
		if c.Status == http.StatusOK || c.Status == 0 {
			for _, s := range c.Seqs {
				seen[s]++
			}
		}
	}
	for _, s := range want {
		switch {
		case seen[s] == 0:
			t.Errorf("event %d never reached the endpoint", s)
		case seen[s] > 1 && !lost[s]:
			t.Errorf("event %d sent %d times, though its answer was not lost", s, seen[s])
		}
	}
	if len(d.events()) != len(want) || len(want) != 4*2 {
		t.Fatalf("%d events in the log, status says %d; want 8", len(d.events()), len(want))
	}
	verifySignatures(t, calls)
	summary(t, "kill -9 with a webhook request in flight: %d events, %d requests, none lost, only the %d events of the lost answer sent twice",
		len(want), len(calls), len(lost))
}

func seqRange(n uint64) []uint64 {
	out := make([]uint64, 0, n)
	for i := uint64(1); i <= n; i++ {
		out = append(out, i)
	}
	return out
}

// TestWebhooksFailedThenRedeliver: an endpoint down longer than retry_for
// is marked failed (status, metrics) and, once it is back, resumed from
// its cursor by outbox webhooks redeliver without waiting for the hourly
// probe; every event arrives, in order.
func TestWebhooksFailedThenRedeliver(t *testing.T) {
	h := newHookReceiver(t, func(int, *hookCall) int { return http.StatusOK })
	h.down()
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	d, api := webhookWorld(t, h.url(), `retry_for = "1s"`, fmt.Sprintf("[metrics]\naddress = %q", metricsAddr))
	postMessage(t, api, `{"from":"app@example.net","to":["f@example.net"],"text":"x"}`)
	waitFor(t, "the endpoint marked failed", 30*time.Second, func() bool {
		s := d.webhookStatus()
		return len(s.Endpoints) == 1 && s.Endpoints[0].Failed
	})
	if out := d.cli("webhooks", "status"); !regexp.MustCompile(`(?m)^app\s+FAILED for \S+\s+0/\d+\s+in \d+m`).MatchString(out) {
		t.Errorf("outbox webhooks status of a failed endpoint:\n%s", out)
	}
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `outbox_webhook_endpoint_failed{endpoint="app"} 1`) {
		t.Errorf("metrics lack the failed endpoint:\n%s", body)
	}
	d.waitQueueEmpty(30 * time.Second)
	h.up()
	if out := d.cli("webhooks", "redeliver"); !strings.Contains(out, "resumed from their cursors: app") {
		t.Fatalf("outbox webhooks redeliver: %s", out)
	}
	var want []uint64
	waitFor(t, "every event after redeliver", 30*time.Second, func() bool {
		s := d.webhookStatus()
		want = seqRange(s.LastEvent)
		return s.LastEvent > 0 && s.Endpoints[0].Cursor == s.LastEvent && !s.Endpoints[0].Failed
	})
	calls := h.snapshot()
	checkOrder(t, calls)
	if got := acked(calls); !slices.Equal(got, want) {
		t.Fatalf("acknowledged %v, want %v", got, want)
	}
	summary(t, "an endpoint down past retry_for was marked failed (CLI, metrics) and resumed by redeliver: %d events in order", len(want))
}
