package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
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
	evs := find(d.events(), id, "")
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

	// Over HTTP: the API client's own message, given up at its expire_at.
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
	types["bounced/expired"] = true
	summary(t, "event types %d (%v) written by the daemon, in %.1fs", len(types), slices.Sorted(maps.Keys(types)), time.Since(start).Seconds())
	for _, typ := range []string{"accepted", "delivered", "deferred", "bounced", "delay_warning", "held", "released", "deleted"} {
		if !types[typ] {
			t.Errorf("no %s event", typ)
		}
	}
}
