package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/store"
)

type feedAnswer struct {
	status int
	body   eventsResponse
	err    errorResponse
}

func (a *testAPI) events(t *testing.T, query, auth string) feedAnswer {
	t.Helper()
	req, _ := http.NewRequest("GET", a.url+"/v1/events?"+query, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	ans := feedAnswer{status: resp.StatusCode}
	if resp.StatusCode == 200 {
		err = json.NewDecoder(resp.Body).Decode(&ans.body)
	} else {
		err = json.NewDecoder(resp.Body).Decode(&ans.err)
	}
	if err != nil {
		t.Fatalf("status %d, body not JSON: %v", resp.StatusCode, err)
	}
	return ans
}

func newFeedAPI(t *testing.T) *testAPI {
	return newTestAPI(t, func(o *Options) {
		o.TrustLoopback = false
		o.Keys = []Key{{Name: "a", Hash: sha256.Sum256([]byte("ka"))}, {Name: "b", Hash: sha256.Sum256([]byte("kb"))}}
		o.Events = o.Spool.(*store.DB)
	})
}

// TestEventsFeed: a client reads its own messages' events from a
// sequence number on, pages with limit and resumes with next; another
// key's events are skipped, and next moves past them.
func TestEventsFeed(t *testing.T) {
	a := newFeedAPI(t)
	send := func(key string, to ...string) string {
		body, _ := json.Marshal(map[string]any{"from": "a@example.com", "to": to, "text": "x", "tags": []string{"t"}})
		status, out := a.post(t, string(body), "Bearer "+key)
		if status != 202 {
			t.Fatalf("POST %d %v", status, out)
		}
		return out["id"].(string)
	}
	id1 := send("ka", "b@example.org", "c@example.org")
	send("kb", "d@example.org")
	id3 := send("ka", "e@example.org")

	got := a.events(t, "limit=2", "Bearer ka")
	if got.status != 200 || len(got.body.Events) != 2 || got.body.Next != 3 { // past key b's event 3
		t.Fatalf("first page: %+v", got)
	}
	e := got.body.Events[0]
	if e.Seq != 1 || e.Type != store.EventAccepted || e.QueueID != id1 || e.Recipient != "b@example.org" ||
		e.MessageID != "<"+id1+"@mx.test>" || len(e.Tags) != 1 {
		t.Errorf("first event %+v", e)
	}
	got = a.events(t, fmt.Sprintf("after=%d", got.body.Next), "Bearer ka")
	if len(got.body.Events) != 1 || got.body.Events[0].QueueID != id3 || got.body.Next != 4 {
		t.Fatalf("second page: %+v", got)
	}
	if got = a.events(t, "after=4", "Bearer ka"); len(got.body.Events) != 0 || got.body.Next != 4 {
		t.Fatalf("caught up: %+v", got)
	}
	if got = a.events(t, "", "Bearer kb"); len(got.body.Events) != 1 || got.body.Events[0].Recipient != "d@example.org" || got.body.Next != 4 {
		t.Fatalf("key b sees %+v, want only its own event and next 4", got)
	}
	if got := a.events(t, "", ""); got.status != 401 {
		t.Errorf("without a key: %d", got.status)
	}
}

// TestEventsFeedBadParams: each bad parameter is a 400 naming it.
func TestEventsFeedBadParams(t *testing.T) {
	a := newFeedAPI(t)
	for q, field := range map[string]string{
		"after=-1":     "after",
		"after=x":      "after",
		"limit=0":      "limit",
		"limit=1001":   "limit",
		"limit=ten":    "limit",
		"wait=soon":    "wait",
		"wait=-1s":     "wait",
		"wait=1h":      "wait",
		"wait=1.5":     "wait",
		"after=1&wait": "",
	} {
		got := a.events(t, q, "Bearer ka")
		if field == "" {
			if got.status != 200 {
				t.Errorf("%s: %d %+v, want 200", q, got.status, got.err)
			}
			continue
		}
		if got.status != 400 || got.err.Field != field || got.err.Error == "" {
			t.Errorf("%s: %d %+v, want 400 naming %s", q, got.status, got.err, field)
		}
	}
}

// TestEventsLongPoll: a waiting request answers as soon as an event of
// its client is committed, and empty at its deadline.
func TestEventsLongPoll(t *testing.T) {
	a := newFeedAPI(t)
	start := time.Now()
	if got := a.events(t, "wait=200ms", "Bearer ka"); got.status != 200 || len(got.body.Events) != 0 || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("empty long poll: %+v after %v", got, time.Since(start))
	}
	done := make(chan feedAnswer, 1)
	go func() { done <- a.events(t, "wait=60s", "Bearer ka") }()
	// Another client's event does not end the wait.
	a.post(t, `{"from":"a@example.com","to":["x@example.org"],"text":"x"}`, "Bearer kb")
	select {
	case got := <-done:
		t.Fatalf("answered on another key's event: %+v", got)
	case <-time.After(100 * time.Millisecond): // a negative check: nothing may arrive
	}
	a.post(t, `{"from":"a@example.com","to":["y@example.org"],"text":"x"}`, "Bearer ka")
	select {
	case got := <-done:
		if got.status != 200 || len(got.body.Events) != 1 || got.body.Events[0].Recipient != "y@example.org" || got.body.Next != 2 {
			t.Fatalf("long poll: %+v", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the long poll did not answer after the event")
	}
	// Shutdown ends a long poll at once.
	go func() { done <- a.events(t, "after=2&wait=60s", "Bearer ka") }()
	waitUntil(t, func() bool { return a.srv.pollers() > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if got := <-done; got.status != 200 || len(got.body.Events) != 0 {
		t.Errorf("long poll at shutdown: %+v", got)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(time.Millisecond) // polling interval, not synchronization
	}
}
