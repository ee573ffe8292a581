package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/queue/admin"
	"github.com/outbox-mta/outbox/queue/admin/admintest"
	"github.com/outbox-mta/outbox/store"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// fixture is a spool of two messages, m1 (one recipient deferred, one
// delivered) and m2 (from <>, queued), and a bounce log of two rows: b0
// two days old, b1 an hour old.
func fixture(t *testing.T) *admintest.Queue {
	yes := true
	q := admintest.NewQueue(t)
	q.Now = func() time.Time { return t0 }
	q.Add(&store.Message{
		ID: "m1", From: "alice@example.com", Received: t0.Add(-time.Hour),
		Client: "127.0.0.1:4000", User: "alice", AtLeastOne: &yes,
		Recipients: []store.Recipient{
			{Addr: "bob@example.org", State: store.StateDeferred, Attempts: 2, LastReply: "451 4.7.1 later",
				NextAttempt: t0.Add(10 * time.Minute),
				History: []store.Attempt{{Time: t0.Add(-time.Minute), Host: "mx.example.org[192.0.2.1]:25",
					TLS: "TLS1.3", Code: 451, Enhanced: "4.7.1", Reply: "later", Result: store.StateDeferred}}},
			{Addr: "carol@example.net", State: store.StateDelivered, Attempts: 1},
		},
	}, "Subject: hi\r\nFrom: alice@example.com\r\n")
	q.Add(&store.Message{
		ID: "m2", From: "", Received: t0,
		Recipients: []store.Recipient{{Addr: "dave@example.net", State: store.StateQueued, NextAttempt: t0}},
	}, "Subject: bounce\r\n")
	q.AddBounce(store.Bounce{Time: t0.Add(-48 * time.Hour), MsgID: "b0", Rcpt: "x@example.com", Code: 550})
	q.AddBounce(store.Bounce{Time: t0.Add(-time.Hour), MsgID: "b1", From: "alice@example.com",
		Rcpt: "eve@example.org", Host: "mx.example.org", Code: 550, Enhanced: "5.1.1", Diag: "no such user", Attempts: 1})
	return q
}

// roundTrip is one admin.Client call on fixture, what it returns, the
// queue operations it makes (by fixture name) and a check of the spool.
type roundTrip struct {
	name      string
	call      func(c *admin.Client, q *admintest.Queue) (any, error)
	want      func(q *admintest.Queue) any
	wantCalls []string
	check     func(t *testing.T, q *admintest.Queue)
}

func runRoundTrips(t *testing.T, tests []roundTrip) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := fixture(t)
			c := admin.NewClient(admintest.Serve(t, q))
			defer c.Close()
			got, err := tt.call(c, q)
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if tt.want != nil {
				if want := tt.want(q); !reflect.DeepEqual(got, want) {
					t.Errorf("got %#v\nwant %#v", got, want)
				}
			}
			if tt.wantCalls != nil && !reflect.DeepEqual(q.Calls(), tt.wantCalls) {
				t.Errorf("calls %q, want %q", q.Calls(), tt.wantCalls)
			}
			if tt.check != nil {
				tt.check(t, q)
			}
		})
	}
}

func value(v any) func(*admintest.Queue) any { return func(*admintest.Queue) any { return v } }

// TestRoundTripReads: a message, its header block and the bounce log
// reach the client as the queue has them.
func TestRoundTripReads(t *testing.T) {
	ctx := context.Background()
	runRoundTrips(t, []roundTrip{
		{
			name: "get",
			call: func(c *admin.Client, q *admintest.Queue) (any, error) { return c.Get(ctx, q.ID("m1")) },
			want: func(q *admintest.Queue) any { return inUTC(q.Message("m1")) },
		},
		{
			name: "headers",
			call: func(c *admin.Client, q *admintest.Queue) (any, error) { return c.Headers(ctx, q.ID("m2")) },
			want: value("Subject: bounce\r\n"),
		},
		{
			name: "bounces since",
			call: func(c *admin.Client, q *admintest.Queue) (any, error) { return c.Bounces(ctx, t0.Add(-24*time.Hour)) },
			want: func(q *admintest.Queue) any {
				return []store.Bounce{{Time: t0.Add(-time.Hour), MsgID: q.ID("b1"), From: "alice@example.com",
					Rcpt: "eve@example.org", Host: "mx.example.org", Code: 550, Enhanced: "5.1.1", Diag: "no such user", Attempts: 1}}
			},
			wantCalls: []string{"bounces 2025-02-28T12:00:00Z"},
		},
		{
			name: "bounces all",
			call: func(c *admin.Client, q *admintest.Queue) (any, error) {
				bs, err := c.Bounces(ctx, time.Time{})
				return len(bs), err
			},
			want:      value(2),
			wantCalls: []string{"bounces"},
		},
	})
}

// TestRoundTripChanges: flush, hold, release and delete reach the queue
// and change the spool by its rules.
func TestRoundTripChanges(t *testing.T) {
	ctx := context.Background()
	runRoundTrips(t, []roundTrip{
		{
			name:      "flush id",
			call:      func(c *admin.Client, q *admintest.Queue) (any, error) { return nil, c.Flush(ctx, q.ID("m1")) },
			wantCalls: []string{"flush m1"},
			check: func(t *testing.T, q *admintest.Queue) {
				if got := q.Message("m1").Recipients[0].NextAttempt; !got.Equal(t0) {
					t.Errorf("next attempt %v, want %v", got, t0)
				}
			},
		},
		{
			name:      "flush domain",
			call:      func(c *admin.Client, q *admintest.Queue) (any, error) { return c.FlushDomain(ctx, "example.net") },
			want:      value(1), // m1's example.net recipient is delivered; only m2 counts
			wantCalls: []string{"flush-domain example.net"},
		},
		{
			name:      "flush all",
			call:      func(c *admin.Client, q *admintest.Queue) (any, error) { return c.FlushAll(ctx) },
			want:      value(2),
			wantCalls: []string{"flush-all"},
		},
		{
			name:      "hold",
			call:      func(c *admin.Client, q *admintest.Queue) (any, error) { return nil, c.Hold(ctx, q.ID("m1")) },
			wantCalls: []string{"hold m1"},
			check: func(t *testing.T, q *admintest.Queue) {
				if st := q.Message("m1").Recipients[0].State; st != store.StateHeld {
					t.Errorf("state %v, want held", st)
				}
			},
		},
		{
			name:      "release",
			call:      func(c *admin.Client, q *admintest.Queue) (any, error) { return nil, c.Release(ctx, q.ID("m1")) },
			wantCalls: []string{"release m1"},
		},
		{
			name:      "delete",
			call:      func(c *admin.Client, q *admintest.Queue) (any, error) { return nil, c.Delete(ctx, q.ID("m2")) },
			wantCalls: []string{"delete m2"},
			check: func(t *testing.T, q *admintest.Queue) {
				if q.Message("m2") != nil {
					t.Error("m2 still queued after delete")
				}
			},
		},
	})
}

func TestListFilterAndPages(t *testing.T) {
	ctx := context.Background()
	q := admintest.NewQueue(t)
	var ms []*store.Message
	for i := range 250 {
		ms = append(ms, &store.Message{ID: fmt.Sprintf("id%03d", i), Received: t0,
			Recipients: []store.Recipient{{Addr: "a@example.com", State: store.StateQueued}}})
	}
	q.AddAll(ms)
	c := admin.NewClient(admintest.Serve(t, q))
	defer c.Close()

	var ids []string
	var pages []int
	f := store.Filter{State: store.StateQueued, Domain: "example.com", Limit: 100}
	for {
		page, next, err := c.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, len(page))
		for _, m := range page {
			ids = append(ids, m.ID)
		}
		if next == "" {
			break
		}
		if next != page[len(page)-1].ID {
			t.Fatalf("cursor %q, want last ID %q", next, page[len(page)-1].ID)
		}
		f.After = next
	}
	if !reflect.DeepEqual(pages, []int{100, 100, 50}) {
		t.Errorf("page sizes %v, want [100 100 50]", pages)
	}
	if len(ids) != 250 || ids[0] != q.ID("id000") || ids[249] != q.ID("id249") {
		t.Errorf("got %d ids from %s to %s", len(ids), ids[0], ids[len(ids)-1])
	}
	// The server asks the queue for one more than the page, to know
	// whether another page follows, and passes the filter through.
	want := store.Filter{State: store.StateQueued, Domain: "example.com", After: q.ID("id199"), Limit: 101}
	if got := q.LastFilter(); got != want {
		t.Errorf("queue filter %+v, want %+v", got, want)
	}

	// Exactly one page: no cursor, no extra round trip needed.
	page, next, err := c.List(ctx, store.Filter{Limit: 250})
	if err != nil || len(page) != 250 || next != "" {
		t.Errorf("List(limit 250) = %d messages, next %q, %v; want 250, \"\", nil", len(page), next, err)
	}
	// The largest page still tells whether another follows.
	big := admintest.NewQueue(t)
	ms = nil
	for i := range admin.MaxPage + 1 {
		ms = append(ms, &store.Message{ID: fmt.Sprintf("b%04d", i), Recipients: []store.Recipient{{Addr: "a@x", State: store.StateQueued}}})
	}
	big.AddAll(ms)
	bc := admin.NewClient(admintest.Serve(t, big))
	defer bc.Close()
	page, next, err = bc.List(ctx, store.Filter{Limit: admin.MaxPage})
	if err != nil || len(page) != admin.MaxPage || next != big.ID(fmt.Sprintf("b%04d", admin.MaxPage-1)) {
		t.Errorf("List(MaxPage) = %d messages, next %q, %v", len(page), next, err)
	}
	// Default page size.
	page, next, err = c.List(ctx, store.Filter{})
	if err != nil || len(page) != admin.DefaultPage || next != page[admin.DefaultPage-1].ID {
		t.Errorf("List(default) = %d messages, next %q, %v", len(page), next, err)
	}
}

func TestNotFound(t *testing.T) {
	ctx := context.Background()
	c := admin.NewClient(admintest.Serve(t, fixture(t)))
	defer c.Close()
	calls := map[string]func() error{
		"get":     func() error { _, err := c.Get(ctx, "nope"); return err },
		"headers": func() error { _, err := c.Headers(ctx, "nope"); return err },
		"flush":   func() error { return c.Flush(ctx, "nope") },
		"hold":    func() error { return c.Hold(ctx, "nope") },
		"release": func() error { return c.Release(ctx, "nope") },
		"delete":  func() error { return c.Delete(ctx, "nope") },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			if !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("error %v, want one matching store.ErrNotFound", err)
			}
			if err.Error() != "no such message: nope" {
				t.Errorf("error text %q", err)
			}
			var re *admin.RemoteError
			if !errors.As(err, &re) || re.StatusCode != http.StatusNotFound {
				t.Errorf("error %#v, want a 404 RemoteError", err)
			}
		})
	}
}

func TestQueueFailureIs500(t *testing.T) {
	q := fixture(t)
	q.Err = errors.New("disk on fire")
	c := admin.NewClient(admintest.Serve(t, q))
	defer c.Close()
	err := c.Hold(context.Background(), q.ID("m1"))
	var re *admin.RemoteError
	if !errors.As(err, &re) || re.StatusCode != http.StatusInternalServerError || re.Message != "hold: disk on fire" {
		t.Fatalf("error %#v, want 500 \"hold: disk on fire\"", err)
	}
	if errors.Is(err, store.ErrNotFound) {
		t.Error("a 500 matches store.ErrNotFound")
	}
}

// rawClient speaks HTTP to the socket directly, to send what admin.Client
// never would.
func rawClient(path string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
}

func TestBadRequests(t *testing.T) {
	tests := []struct {
		name, method, op, body string
		status                 int
		errText                string
	}{
		{"unknown field", "POST", "list", `{"domian":"x"}`, 400, `unknown field "domian"`},
		{"trailing data", "POST", "hold", `{"id":"m1"} {"id":"m2"}`, 400, "data after the JSON object"},
		{"empty body", "POST", "hold", ``, 400, "empty request body"},
		{"not json", "POST", "hold", `id=m1`, 400, "decoding request"},
		{"missing id", "POST", "delete", `{}`, 400, "missing id"},
		{"wrong type", "POST", "list", `{"limit":"ten"}`, 400, "decoding request"},
		{"bad state", "POST", "list", `{"state":"frozen"}`, 400, `unknown state "frozen"`},
		{"limit too big", "POST", "list", `{"limit":100000}`, 400, "out of range"},
		{"negative limit", "POST", "list", `{"limit":-1}`, 400, "out of range"},
		{"flush two targets", "POST", "flush", `{"id":"m1","all":true}`, 400, "exactly one"},
		{"flush nothing", "POST", "flush", `{}`, 400, "exactly one"},
		{"control char", "POST", "hold", `{"id":"m1\n"}`, 400, "control character"},
		{"bad since", "POST", "bounces", `{"since":"yesterday"}`, 400, "decoding request"},
		{"oversize", "POST", "hold", `{"id":"` + strings.Repeat("a", admin.MaxRequestBytes) + `"}`, 413, "request body over"},
		{"wrong method", "GET", "list", ``, 405, ""},
		{"unknown op", "POST", "explode", `{}`, 404, ""},
	}
	q := fixture(t)
	path := admintest.Serve(t, q)
	hc := rawClient(path)
	defer hc.CloseIdleConnections()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, "http://outbox/v1/"+tt.op, bytes.NewBufferString(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			res, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (%s)", res.StatusCode, tt.status, body)
			}
			if tt.errText == "" {
				return
			}
			var e struct{ Error, Code string }
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("error body %q: %v", body, err)
			}
			if !strings.Contains(e.Error, tt.errText) {
				t.Errorf("error %q, want it to contain %q", e.Error, tt.errText)
			}
		})
	}
	// Nothing above reached the queue.
	if calls := q.Calls(); len(calls) != 0 {
		t.Errorf("bad requests reached the queue: %q", calls)
	}
}

func TestWireFormat(t *testing.T) {
	q := fixture(t)
	m := q.Message("m1")
	b, err := json.Marshal(admin.NewMessage(m))
	if err != nil {
		t.Fatal(err)
	}
	want := q.Expand(`{"id":"m1","from":"alice@example.com","recipients":[` +
		`{"addr":"bob@example.org","state":"deferred","attempts":2,"last_reply":"451 4.7.1 later","next_attempt":"2025-03-01T12:10:00Z",` +
		`"history":[{"time":"2025-03-01T11:59:00Z","host":"mx.example.org[192.0.2.1]:25","tls":"TLS1.3","code":451,"enhanced":"4.7.1","reply":"later","result":"deferred"}]},` +
		`{"addr":"carol@example.net","state":"delivered","attempts":1}],` +
		`"size":` + fmt.Sprint(m.Size) + `,"received":"2025-03-01T11:00:00Z","client":"127.0.0.1:4000","user":"alice","at_least_one":true}`)
	if string(b) != want {
		t.Errorf("wire JSON\n got %s\nwant %s", b, want)
	}
	var back admin.Message
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if got := back.Store(); !reflect.DeepEqual(got, inUTC(m)) {
		t.Errorf("round trip\n got %#v\nwant %#v", got, m)
	}
}

// inUTC is m with its times in UTC, as the wire carries them (the store
// decodes them in the local zone).
func inUTC(m *store.Message) *store.Message {
	m.Received, m.DeliverAfter, m.ExpireAt = m.Received.UTC(), m.DeliverAfter.UTC(), m.ExpireAt.UTC()
	for i := range m.Recipients {
		r := &m.Recipients[i]
		r.NextAttempt = r.NextAttempt.UTC()
		for j := range r.History {
			r.History[j].Time = r.History[j].Time.UTC()
		}
	}
	return m
}
