package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/queue/admin"
	"github.com/outbox-mta/outbox/queue/admin/admintest"
	"github.com/outbox-mta/outbox/store"
)

func TestStatsCountsWholeSpool(t *testing.T) {
	q := admintest.NewQueue(t)
	// 1500 messages, each with one recipient at a.example (alternately
	// queued and deferred); every third also one delivered at b.example;
	// one old held message, which waits for an operator: not pending, nor
	// the oldest pending, but its recipient is counted.
	var ms []*store.Message
	for i := range 1500 {
		st := store.StateQueued
		if i%2 == 1 {
			st = store.StateDeferred
		}
		m := &store.Message{ID: fmt.Sprintf("id%04d", i+1), Received: t0.Add(time.Duration(i) * time.Second),
			Recipients: []store.Recipient{{Addr: fmt.Sprintf("u%d@A.example", i), State: st}}}
		if i%3 == 0 {
			m.Recipients = append(m.Recipients, store.Recipient{Addr: "v@b.example", State: store.StateDelivered})
		}
		ms = append(ms, m)
	}
	q.AddAll(ms)
	q.Add(&store.Message{ID: "id0000", Received: t0.Add(-time.Hour),
		Recipients: []store.Recipient{{Addr: "h@c.example", State: store.StateHeld}}}, "")
	q.Add(&store.Message{ID: "id9999", Received: t0.Add(-2 * time.Hour),
		Recipients: []store.Recipient{{Addr: "d@b.example", State: store.StateBounced}}}, "")

	c := admin.NewClient(admintest.Serve(t, q))
	defer c.Close()
	s, err := c.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.Messages != 1502 || s.Pending != 1500 {
		t.Errorf("messages %d pending %d, want 1502 and 1500", s.Messages, s.Pending)
	}
	wantStates := map[string]int{"queued": 750, "deferred": 750, "delivered": 500, "held": 1, "bounced": 1}
	if !reflect.DeepEqual(s.ByState, wantStates) {
		t.Errorf("by state %v, want %v", s.ByState, wantStates)
	}
	wantDomains := []admin.DomainStats{
		{Domain: "a.example", Queued: 750, Deferred: 750},
		{Domain: "c.example", Held: 1},
	}
	if !reflect.DeepEqual(s.ByDomain, wantDomains) {
		t.Errorf("by domain %+v, want %+v", s.ByDomain, wantDomains)
	}
	if !s.Oldest.Equal(t0) || s.OldestID != q.ID("id0001") {
		t.Errorf("oldest %v %s, want %v %s (id0001)", s.Oldest, s.OldestID, t0, q.ID("id0001"))
	}
}

// Stats carries the state of delivery when the server has Dispatch: a
// paused dispatch is what an operator must see first.
func TestStatsDispatch(t *testing.T) {
	since := t0.Add(-time.Minute)
	want := admin.DispatchStatus{Paused: true, Since: since, Reason: "store: commit failed: no space left on device",
		CommitFailures: 3, CommitBackoff: 1}
	srv := newServer(t, admin.Options{Queue: admintest.NewQueue(t), Dispatch: func() admin.DispatchStatus { return want }})
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/v1/stats", strings.NewReader("{}")))
	var s admin.Stats
	if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}
	if s.Dispatch == nil || !reflect.DeepEqual(*s.Dispatch, want) {
		t.Errorf("dispatch = %+v, want %+v", s.Dispatch, want)
	}

	srv = newServer(t, admin.Options{Queue: admintest.NewQueue(t)})
	rec = httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/v1/stats", strings.NewReader("{}")))
	if strings.Contains(rec.Body.String(), `"dispatch"`) {
		t.Errorf("dispatch reported without Server.Dispatch: %s", rec.Body)
	}
}

// newServer is admin.New that fails the test on error.
func newServer(t *testing.T, opts admin.Options) *admin.Server {
	t.Helper()
	srv, err := admin.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// TestNewNeedsQueue: a server without a queue is refused at New, not at
// the first request.
func TestNewNeedsQueue(t *testing.T) {
	if _, err := admin.New(admin.Options{}); err == nil {
		t.Error("New without a Queue succeeded")
	}
}
