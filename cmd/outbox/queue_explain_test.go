package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/queue/admin"
	"github.com/outbox-mta/outbox/queue/admin/admintest"
	"github.com/outbox-mta/outbox/store"
)

// explainServer serves adminFixture with explanations of m1's waits and
// a throttled destination; it returns the socket and m1's ID.
func explainServer(t *testing.T) (sock, m1 string) {
	t.Helper()
	since := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	q := adminFixture(t)
	m1 = q.ID("m1")
	return admintest.ServeWith(t, admin.Options{
		Queue: q,
		Explain: func(_ context.Context, id string) ([]admin.Explanation, error) {
			if id != m1 {
				return nil, store.ErrNotFound
			}
			return []admin.Explanation{{Rcpt: "bob@example.org", State: "deferred", Reason: "throttled",
				Until: time.Now().Add(time.Minute), Since: since, Rule: "gmail", Reply: "421 4.7.28 slow down",
				Sentence: `destination gmail (rule gmail) answered "421 4.7.28 slow down"`}}, nil
		},
		Throttles: func() []admin.Throttle {
			return []admin.Throttle{{Destination: "gmail", Rule: "gmail", State: "throttled", Since: since,
				Reply: "421 4.7.28 slow down", PerMinute: 300, Reserved: 7}}
		},
	}), m1
}

func TestQueueExplain(t *testing.T) {
	sock, m1 := explainServer(t)
	code, out, errOut := adminRun(t, runQueueExplain, m1, "--socket", sock)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{"bob@example.org: throttled until ", `  destination gmail (rule gmail) answered "421 4.7.28 slow down"`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = adminRun(t, runQueueExplain, m1, "--json", "--socket", sock)
	var got struct {
		ID         string              `json:"id"`
		Recipients []admin.Explanation `json:"recipients"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != exitOK {
		t.Fatalf("exit %d, %v\n%s", code, err, out)
	}
	if got.ID != m1 || len(got.Recipients) != 1 || got.Recipients[0].Reason != "throttled" || got.Recipients[0].Rule != "gmail" {
		t.Errorf("json: %+v", got)
	}
	if code, _, errOut := adminRun(t, runQueueExplain, "nope", "--socket", sock); code == exitOK || !strings.Contains(errOut, "nope") {
		t.Errorf("unknown ID: exit %d, stderr %q", code, errOut)
	}
	if code, _, _ := adminRun(t, runQueueExplain, "--socket", sock); code == exitOK {
		t.Error("no ID accepted")
	}
}

func TestQueueShowAndStatsCarryShaping(t *testing.T) {
	sock, m1 := explainServer(t)
	code, out, _ := adminRun(t, runQueueShow, m1, "--json", "--socket", sock)
	var show struct {
		Explain []admin.Explanation `json:"explain"`
	}
	if err := json.Unmarshal([]byte(out), &show); err != nil || code != exitOK || len(show.Explain) != 1 || show.Explain[0].Reason != "throttled" {
		t.Errorf("queue show --json explain: exit %d, %v, %+v", code, err, show.Explain)
	}
	code, out, _ = adminRun(t, runQueueStats, "--socket", sock)
	if code != exitOK || !strings.Contains(out, "held back by traffic shaping:\n  gmail: throttled, 300 msg/min") ||
		!strings.Contains(out, `after "421 4.7.28 slow down" (0 in flight, 0 waiting for a connection, 7 deferred to a slot)`) {
		t.Errorf("queue stats: exit %d\n%s", code, out)
	}
	code, out, _ = adminRun(t, runQueueStats, "--json", "--socket", sock)
	var stats admin.Stats
	if err := json.Unmarshal([]byte(out), &stats); err != nil || code != exitOK || len(stats.Throttled) != 1 || stats.Throttled[0].State != "throttled" {
		t.Errorf("queue stats --json: %v %+v", err, stats.Throttled)
	}
}
