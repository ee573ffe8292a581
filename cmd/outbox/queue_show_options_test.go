package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/queue/admin/admintest"
	"github.com/outbox-mta/outbox/store"
)

// `queue show` reports a message's schedule, expiry, tags and metadata,
// in text and in JSON.
func TestQueueShowOptions(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	q := admintest.NewQueue(t)
	q.Add(&store.Message{
		ID: "o1", From: "app@example.com", Received: time.Now(),
		DeliverAfter: at, ExpireAt: at.Add(time.Hour),
		Tags: []string{"welcome", "signup"}, Metadata: map[string]string{"user": "42", "plan": "pro"},
		Priority: store.PriorityBulk, IgnoreSuppressions: true,
		Recipients: []store.Recipient{{Addr: "bob@example.org", State: store.StateQueued, NextAttempt: at}},
	}, "Subject: x\r\n")

	code, out, errOut := adminRunOn(t, q, runQueueShow, "o1")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{
		"scheduled: " + formatTime(at) + "\n",
		"expires:   " + formatTime(at.Add(time.Hour)) + "\n",
		"tags:      welcome signup\n",
		"meta:      plan=\"pro\"\nmeta:      user=\"42\"\n",
		"priority:  bulk\n",
		"suppress:  ignored: sent to suppressed addresses too\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	code, out, errOut = adminRunOn(t, q, runQueueShow, "o1", "--json")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var got struct {
		Message struct {
			DeliverAfter time.Time         `json:"deliver_after"`
			ExpireAt     time.Time         `json:"expire_at"`
			Tags         []string          `json:"tags"`
			Metadata     map[string]string `json:"metadata"`
			Priority     string            `json:"priority"`
			Ignore       bool              `json:"ignore_suppressions"`
		} `json:"message"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	m := got.Message
	if !m.DeliverAfter.Equal(at) || !m.ExpireAt.Equal(at.Add(time.Hour)) ||
		strings.Join(m.Tags, ",") != "welcome,signup" || m.Metadata["user"] != "42" || m.Metadata["plan"] != "pro" ||
		m.Priority != "bulk" || !m.Ignore {
		t.Errorf("JSON %+v", m)
	}
}
