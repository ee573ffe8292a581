package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery/smtptest"
)

// event is one event in its public JSON shape (GET /v1/events, outbox
// events --json), decoded here without Outbox's Go types.
type event struct {
	Seq       uint64 `json:"seq"`
	Time      string `json:"time"`
	Type      string `json:"type"`
	QueueID   string `json:"queue_id"`
	MessageID string `json:"message_id"`
	From      string `json:"from"`
	Recipient string `json:"recipient"`
	Reply     struct {
		Code     int    `json:"code"`
		Enhanced string `json:"enhanced"`
		Text     string `json:"text"`
	} `json:"reply"`
	RemoteHost  string            `json:"remote_host"`
	TLS         string            `json:"tls"`
	Attempt     int               `json:"attempt"`
	Class       string            `json:"class"`
	NextAttempt string            `json:"next_attempt"`
	Tags        []string          `json:"tags"`
	Metadata    map[string]string `json:"metadata"`
}

// events returns the whole event log, as `outbox events --json` prints it.
func (d *daemon) events() []event {
	d.t.Helper()
	out := d.cli("events", "--json")
	var evs []event
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			d.t.Fatalf("outbox events --json: %v: %s", err, sc.Bytes())
		}
		evs = append(evs, e)
	}
	return evs
}

// find returns the events of queue ID id (and recipient rcpt, unless "").
func find(evs []event, id, rcpt string) []event {
	var out []event
	for _, e := range evs {
		if e.QueueID == id && (rcpt == "" || e.Recipient == rcpt) {
			out = append(out, e)
		}
	}
	return out
}

// last returns the latest event of type typ in evs, and whether there is
// one.
func last(evs []event, typ string) (event, bool) {
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type == typ {
			return evs[i], true
		}
	}
	return event{}, false
}

// feedPage is one answer of GET /v1/events.
type feedPage struct {
	Events []event `json:"events"`
	Next   uint64  `json:"next"`
}

// feed calls GET /v1/events on the API at api as the trusted loopback.
func feed(t *testing.T, api string, after uint64, limit int, wait time.Duration) feedPage {
	t.Helper()
	q := url.Values{"after": {fmt.Sprint(after)}}
	if limit > 0 {
		q.Set("limit", fmt.Sprint(limit))
	}
	if wait > 0 {
		q.Set("wait", wait.String())
	}
	resp, err := http.Get("http://" + api + "/v1/events?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p feedPage
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /v1/events: %d, %v", resp.StatusCode, err)
	}
	return p
}

// postMessage submits body to the API at api as the trusted loopback and
// returns the queue ID.
func postMessage(t *testing.T, api, body string) string {
	t.Helper()
	resp, err := http.Post("http://"+api+"/v1/messages", "application/json", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 202 {
		t.Fatalf("POST /v1/messages: %d, %v", resp.StatusCode, err)
	}
	return out.ID
}

// TestEventsEveryType: the real daemon, delivering to a scripted receiver,
// writes every event type with its reply, host, attempt and class; the
// operator's hold, release and delete too; and the HTTP feed follows the
// API client's own message, tags and metadata included, to its expiry.
func TestEventsEveryType(t *testing.T) {
	start := time.Now()
	w := newMXWorld(t,
		"example.net. MX 10 mx.example.net.",
		"example.com. MX 10 mx.example.net.",
		"nullmx.net. MX 0 .",
		"mx.example.net. A 127.0.0.3",
	)
	w.mx(t, "127.0.0.3", smtptest.Options{Rcpt: func(to string) error {
		switch to {
		case "unknown@example.net":
			return smtptest.Reply(550, "5.1.1", "no such user")
		case "later@example.net", "never@example.net":
			return smtptest.Reply(450, "4.2.0", "mailbox busy")
		}
		return nil
	}})
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	api := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	d := startDaemon(t, dir, w.config(t, dir, addr, fmt.Sprintf(
		"delay_warning = \"1s\"\n[cron]\ndelay_warnings = \"@every 1s\"\n[api]\naddress = %q\n", api)), addr)

	submit(t, addr, "sender@example.com",
		[]string{"ok@example.net", "unknown@example.net", "later@example.net", "x@nullmx.net"},
		"From: sender@example.com\r\nMessage-ID: <every-type@example.com>\r\nSubject: events\r\n\r\nbody\r\n")
	var id string
	waitFor(t, "the delay warning", 30*time.Second, func() bool {
		evs := d.events()
		if len(evs) > 0 {
			id = evs[0].QueueID
		}
		_, ok := last(find(evs, id, "later@example.net"), "delay_warning")
		return ok
	})
	for _, verb := range []string{"hold", "release", "delete"} {
		d.cli("queue", verb, id)
	}
	types := checkEveryType(t, find(d.events(), id, ""), id)
	checkExpiryOnFeed(t, api)
	types["bounced/expired"] = true
	summary(t, "event types %d (%v) written by the daemon, in %.1fs", len(types), slices.Sorted(maps.Keys(types)), time.Since(start).Seconds())
	for _, typ := range []string{"accepted", "delivered", "deferred", "bounced", "delay_warning", "held", "released", "deleted"} {
		if !types[typ] {
			t.Errorf("no %s event", typ)
		}
	}
}

// checkEveryType checks the events of message id, which delivered to
// ok@, bounced unknown@ (550) and x@nullmx.net (null MX), deferred and
// warned about later@ before the operator held, released and deleted it.
// It returns the event types seen.
func checkEveryType(t *testing.T, evs []event, id string) map[string]bool {
	t.Helper()
	types := map[string]bool{}
	for _, e := range evs {
		types[e.Type] = true
		if e.MessageID != "<every-type@example.com>" || e.From != "sender@example.com" {
			t.Errorf("event %d names message %q from %q", e.Seq, e.MessageID, e.From)
		}
	}
	check := func(rcpt, typ string, ok func(e event) bool) {
		t.Helper()
		e, found := last(find(evs, id, rcpt), typ)
		if !found || !ok(e) {
			t.Errorf("%s %s: %+v (found %v)", rcpt, typ, e, found)
		}
	}
	host := func(e event) bool { return strings.Contains(e.RemoteHost, "[127.0.0.3]:") }
	check("ok@example.net", "accepted", func(e event) bool { return e.Attempt == 0 })
	check("ok@example.net", "delivered", func(e event) bool {
		return e.Reply.Code == 250 && e.Attempt == 1 && host(e) && e.TLS == "none"
	})
	check("unknown@example.net", "bounced", func(e event) bool {
		return e.Class == "remote-5xx" && e.Reply.Code == 550 && e.Reply.Enhanced == "5.1.1" && host(e)
	})
	check("x@nullmx.net", "bounced", func(e event) bool {
		return e.Class == "dns" && e.Reply.Code == 0 && e.Reply.Enhanced == "5.1.10" && e.RemoteHost == ""
	})
	check("later@example.net", "deferred", func(e event) bool {
		return e.Reply.Code == 450 && e.Attempt >= 1 && e.NextAttempt != "" && host(e)
	})
	check("later@example.net", "delay_warning", func(e event) bool { return e.Attempt >= 1 })
	check("later@example.net", "held", func(e event) bool { return true })
	check("later@example.net", "released", func(e event) bool { return true })
	check("later@example.net", "deleted", func(e event) bool { return true })
	if n := len(find(evs, id, "ok@example.net")); n != 2 {
		t.Errorf("ok@example.net has %d events, want accepted and delivered", n)
	}
	return types
}

// checkExpiryOnFeed: the HTTP feed shows the API client its own message
// only, tags and metadata included, from accepted to its expiry at
// expire_at.
func checkExpiryOnFeed(t *testing.T, api string) {
	t.Helper()
	expire := time.Now().Add(3 * time.Second).UTC().Format(time.RFC3339)
	api2 := postMessage(t, api, `{"from":"app@example.com","to":["never@example.net"],"subject":"s","text":"x",
		"expire_at":"`+expire+`","tags":["trial"],"metadata":{"customer":"1042"}}`)
	var got []event
	var next uint64
	waitFor(t, "the expiry on the feed", 30*time.Second, func() bool {
		p := feed(t, api, next, 0, 5*time.Second)
		got, next = append(got, p.Events...), p.Next
		_, ok := last(got, "bounced")
		return ok
	})
	for _, e := range got {
		if e.QueueID != api2 {
			t.Errorf("the feed shows the loopback client another message's event: %+v", e)
		}
		if len(e.Tags) != 1 || e.Tags[0] != "trial" || e.Metadata["customer"] != "1042" || e.MessageID != "<"+api2+"@outbox.test>" {
			t.Errorf("event %d: tags %v metadata %v message_id %q", e.Seq, e.Tags, e.Metadata, e.MessageID)
		}
	}
	if e, _ := last(got, "bounced"); e.Class != "expired" || e.Reply.Enhanced != "4.4.7" {
		t.Errorf("expiry %+v", e)
	}
	if got[0].Type != "accepted" {
		t.Errorf("first event of the API message: %+v", got[0])
	}
}

// TestEventsFeedResumesAfterRestart: a follower that read part of the
// feed, then lost the daemon (SIGTERM once, kill -9 once) resumes from
// its next with no gap and no sequence number twice, and reads every
// event of every recipient exactly once.
func TestEventsFeedResumesAfterRestart(t *testing.T) {
	w := newMXWorld(t, "example.net. MX 10 mx.example.net.", "mx.example.net. A 127.0.0.3")
	w.mx(t, "127.0.0.3", smtptest.Options{})
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	api := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	d := startDaemon(t, dir, w.config(t, dir, addr, fmt.Sprintf("[api]\naddress = %q\n", api)), addr)

	var got []event
	var next uint64
	read := func(limit int) {
		t.Helper()
		p := feed(t, api, next, limit, 0)
		got, next = append(got, p.Events...), p.Next
	}
	ids := map[string]bool{}
	send := func(n int) {
		t.Helper()
		for i := range n {
			ids[postMessage(t, api, fmt.Sprintf(`{"from":"app@example.net","to":["a%d@example.net","b%d@example.net"],"text":"x"}`, len(ids)+i, len(ids)+i))] = true
		}
	}
	// Each message: two accepted and two delivered events.
	readAll := func(what string) {
		t.Helper()
		waitFor(t, what, 30*time.Second, func() bool {
			p := feed(t, api, next, 0, 2*time.Second)
			got, next = append(got, p.Events...), p.Next
			return len(got) == 4*len(ids)
		})
	}
	send(3)
	d.waitQueueEmpty(30 * time.Second)
	read(5)
	d.stop()
	d.start()
	send(2)
	readAll("the events after a restart")
	read(3) // a partial read, then a kill
	d.kill9()
	d.start()
	send(2)
	readAll("the events after a kill -9")

	seen := map[string]int{}
	for i, e := range got {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d: a gap or a duplicate\n%s", i, e.Seq, showJSON(got))
		}
		if !ids[e.QueueID] {
			t.Errorf("event of an unknown message: %+v", e)
		}
		seen[e.QueueID+" "+e.Recipient+" "+e.Type]++
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s: %d events", k, n)
		}
	}
	if next != uint64(len(got)) || len(seen) != 4*len(ids) {
		t.Errorf("next %d after %d events, %d distinct for %d messages", next, len(got), len(seen), len(ids))
	}
	summary(t, "%d events of %d messages read across a restart and a kill -9: seq 1..%d, no gap, no duplicate", len(got), len(ids), next)
}

// TestEventsAgreeWithStateAfterKill9: submissions and deliveries (some
// deferred, some bounced) under repeated kill -9; afterwards, for every
// recipient in the spool, its events agree with its recorded state: one
// accepted, exactly one final event matching a final state, its last
// attempt number equal to the recorded attempts; and every event names a
// message in the spool, numbered 1..N without a gap.
func TestEventsAgreeWithStateAfterKill9(t *testing.T) {
	w := newMXWorld(t,
		"example.net. MX 10 mx.example.net.",
		"example.com. MX 10 mx.example.net.",
		"mx.example.net. A 127.0.0.3")
	var mu sync.Mutex
	tries := map[string]int{}
	w.mx(t, "127.0.0.3", smtptest.Options{Rcpt: func(to string) error {
		mu.Lock()
		tries[to]++
		n := tries[to]
		mu.Unlock()
		// By the address: some bounce, some are deferred twice first.
		switch {
		case strings.HasPrefix(to, "bounce"):
			return smtptest.Reply(550, "5.1.1", "no such user")
		case strings.HasPrefix(to, "defer") && n <= 2:
			return smtptest.Reply(450, "4.2.0", "busy")
		}
		return nil
	}})
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	d := startDaemon(t, dir, w.config(t, dir, addr, ""), addr)

	ctx, stop := context.WithCancel(context.Background())
	var load sync.WaitGroup
	var sent atomic.Int64
	for g := range 3 {
		load.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				k := fmt.Sprintf("%d-%d", g, i)
				err := trySubmit(addr, "load@example.com",
					[]string{"ok" + k + "@example.net", "defer" + k + "@example.net", "bounce" + k + "@example.net"},
					"From: load@example.com\r\nSubject: load\r\n\r\nbody\r\n")
				if err != nil {
					waitListening(ctx, addr)
					continue
				}
				sent.Add(1)
			}
		})
	}
	const kills = 5
	for range kills {
		// Load between kills: the scenario, not synchronisation.
		time.Sleep(300*time.Millisecond + rand.N(700*time.Millisecond))
		d.kill9()
		d.start()
	}
	stop()
	load.Wait()
	d.waitQueueEmpty(90 * time.Second)

	evs := d.events()
	byRcpt := map[string][]event{}
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d: a gap or a duplicate", i, e.Seq)
		}
		byRcpt[e.QueueID+" "+e.Recipient] = append(byRcpt[e.QueueID+" "+e.Recipient], e)
	}
	msgs := d.queueJSONArgs("--done")
	rcpts := 0
	for _, m := range msgs {
		id := m["id"].(string)
		for addr, state := range recipients(m) {
			rcpts++
			checkAgreement(t, id, addr, state, attempts(m, addr), byRcpt[id+" "+addr])
			delete(byRcpt, id+" "+addr)
		}
	}
	for k, es := range byRcpt {
		t.Errorf("%d events of %s, which is not in the spool: %+v", len(es), k, es[0])
	}
	if sent.Load() == 0 {
		t.Error("no message got through the load")
	}
	summary(t, "%d messages acknowledged under %d kill -9, %d in the spool (with notices), %d recipients: each one's %d events agree with its state",
		sent.Load(), kills, len(msgs), rcpts, len(evs))
}

// checkAgreement holds one recipient's events to its recorded state.
func checkAgreement(t *testing.T, id, addr, state string, attempts int, evs []event) {
	t.Helper()
	count := map[string]int{}
	maxAttempt := 0
	for _, e := range evs {
		count[e.Type]++
		maxAttempt = max(maxAttempt, e.Attempt)
	}
	switch {
	case len(evs) == 0 || evs[0].Type != "accepted" || count["accepted"] != 1:
		t.Errorf("%s %s: events %v do not start with one accepted", id, addr, count)
	case state == "delivered" || state == "bounced":
		if count[state] != 1 || evs[len(evs)-1].Type != state || count["delivered"]+count["bounced"] != 1 {
			t.Errorf("%s %s is %s; events %v, last %s", id, addr, state, count, evs[len(evs)-1].Type)
		}
	default:
		t.Errorf("%s %s is %s after the queue drained", id, addr, state)
	}
	if maxAttempt != attempts {
		t.Errorf("%s %s: %d attempts recorded, events say %d", id, addr, attempts, maxAttempt)
	}
}
