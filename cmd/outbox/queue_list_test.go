package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/queue/admin/admintest"
	"github.com/outbox-mta/outbox/store"
)

func TestQueueListTable(t *testing.T) {
	q := adminFixture(t)
	code, out, errOut := adminRunOn(t, q, runQueueList)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	want := []string{
		`^ID  +AGE  SIZE  SENDER$`,
		`^m1  +1h30m  +55  alice@example.com$`,
		`^    deferred   bob@example.org  next in 2h00m  \(2 attempts: 451 4\.7\.1 greylisted try later\)$`,
		`^    delivered  carol@example.net$`,
		`^m2  +30s  +31  <>$`,
		`^    queued     dave@example.net  due now$`,
		`^-- 2 messages, 3 recipients, 86 bytes$`,
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i, re := range want {
		if !regexp.MustCompile(re).MatchString(lines[i]) {
			t.Errorf("line %d = %q, want match for %s", i+1, lines[i], re)
		}
	}
}

func TestQueueListFiltersAndJSON(t *testing.T) {
	q := adminFixture(t)
	code, out, errOut := adminRunOn(t, q, runQueueList, "--state", "deferred", "--domain", "example.org", "--json")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var got []struct {
		ID         string `json:"id"`
		From       string `json:"from"`
		Received   string `json:"received"`
		Recipients []struct {
			Addr        string `json:"addr"`
			State       string `json:"state"`
			NextAttempt string `json:"next_attempt"`
		} `json:"recipients"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not a JSON array: %v\n%s", err, out)
	}
	if len(got) != 1 || got[0].ID != "m1" || got[0].Recipients[0].State != "deferred" {
		t.Fatalf("got %+v, want m1 with a deferred recipient", got)
	}
	if _, err := time.Parse(time.RFC3339, got[0].Received); err != nil {
		t.Errorf("received %q is not RFC 3339", got[0].Received)
	}
	if f := q.LastFilter(); f.State != store.StateDeferred || f.Domain != "example.org" {
		t.Errorf("queue saw filter %+v", f)
	}
}

func TestQueueListEmpty(t *testing.T) {
	q := admintest.NewQueue(t)
	if code, out, _ := adminRunOn(t, q, runQueueList); code != exitOK || out != "queue is empty\n" {
		t.Errorf("text: exit %d, %q", code, out)
	}
	if code, out, _ := adminRunOn(t, q, runQueueList, "--json"); code != exitOK || out != "[]\n" {
		t.Errorf("json: exit %d, %q", code, out)
	}
}

func TestQueueListPages(t *testing.T) {
	q := admintest.NewQueue(t)
	var ms []*store.Message
	for i := range 2*listPage + 7 {
		ms = append(ms, &store.Message{ID: fmt.Sprintf("id%04d", i), Received: time.Now(),
			Recipients: []store.Recipient{{Addr: "a@example.com", State: store.StateQueued}}})
	}
	q.AddAll(ms)
	tests := []struct {
		args      []string
		want      int
		wantCalls int
	}{
		{nil, 2*listPage + 7, 3},
		{[]string{"--limit", "5"}, 5, 1},
		{[]string{"--limit", fmt.Sprint(listPage + 1)}, listPage + 1, 2},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			before := len(q.Calls())
			code, out, errOut := adminRunOn(t, q, runQueueList, append(tt.args, "--json")...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var got []struct{ ID string }
			if len(tt.args) > 0 { // --limit: an object with the total
				var page struct {
					Messages []struct{ ID string }
					Total    int
					Next     string
				}
				if err := json.Unmarshal([]byte(out), &page); err != nil {
					t.Fatal(err)
				}
				got = page.Messages
				if page.Total != 2*listPage+7 || page.Next != got[len(got)-1].ID {
					t.Errorf("total %d, next %q; want %d and %q", page.Total, page.Next, 2*listPage+7, got[len(got)-1].ID)
				}
				tt.wantCalls += 3 // the count: its own page, then the spool in store pages
			} else if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want || got[0].ID != "id0000" || got[len(got)-1].ID != fmt.Sprintf("id%04d", tt.want-1) {
				t.Errorf("got %d messages (%v..%v), want %d", len(got), got[0], got[len(got)-1], tt.want)
			}
			if calls := len(q.Calls()) - before; calls != tt.wantCalls {
				t.Errorf("%d list calls, want %d", calls, tt.wantCalls)
			}
		})
	}
}

// TestQueueListFilters: sender, recipient and age filters reach the
// daemon; an empty filtered answer says "no messages match"; --limit
// prints the total and the cursor, and --after continues from it.
func TestQueueListFilters(t *testing.T) {
	q := adminFixture(t)
	tests := []struct {
		args []string
		want []string // lines the output must contain
	}{
		{[]string{"--sender", "<>"}, []string{"m2 ", "-- 1 messages"}},
		{[]string{"--recipient", "BOB@example.org"}, []string{"m1 ", "-- 1 messages"}},
		{[]string{"--older-than", "1h"}, []string{"m1 ", "-- 1 messages"}},
		{[]string{"--newer-than", "1h"}, []string{"m2 ", "-- 1 messages"}},
		{[]string{"--sender", "nobody@example.com"}, []string{"no messages match\n"}},
		{[]string{"--limit", "1"}, []string{"m1 ", "-- 1 shown of 2 matching; next page: --after m1\n"}},
		{[]string{"--limit", "1", "--after", "m1"}, []string{"m2 ", "-- 1 shown of 2 matching\n"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := adminRunOn(t, q, runQueueList, tt.args...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "m1 ") && strings.Contains(out, "m2 ") {
				t.Errorf("both messages listed:\n%s", out)
			}
		})
	}
}

func TestQueueListUsage(t *testing.T) {
	q := adminFixture(t)
	tests := []struct {
		args    []string
		errText string
	}{
		{[]string{"--state", "frozen"}, `unknown state "frozen"`},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--limit", "-1"}, "must not be negative"},
		{[]string{"--bogus"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := adminRunOn(t, q, runQueueList, tt.args...)
			if code != exitUsage || out != "" || !strings.Contains(errOut, tt.errText) || !strings.Contains(errOut, "usage: outbox queue list") {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q with usage", code, out, errOut, tt.errText)
			}
		})
	}
	if code, _, errOut := adminRun(t, runQueueList, "-h"); code != exitOK || !strings.Contains(errOut, "--state") {
		t.Errorf("-h: exit %d, %q", code, errOut)
	}
}

// quarantineFixture is adminFixture with one message set aside because its
// body file is gone.
func quarantineFixture(t *testing.T) *admintest.Queue {
	q := adminFixture(t)
	q.Quarantine(&store.Message{ID: "q1", From: "lost@example.org",
		Recipients: []store.Recipient{{Addr: "r@example.net", State: store.StateQueued}}})
	return q
}

// TestQueueListShowsQuarantined: a quarantined message is listed after the
// queue, with its reason and recipients, whatever the filter.
func TestQueueListShowsQuarantined(t *testing.T) {
	q := quarantineFixture(t)
	code, out, errOut := adminRunOn(t, q, runQueueList, "--state", "held")
	if code != exitOK {
		t.Fatalf("queue list: exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{"-- 1 quarantined", "q1", "lost@example.org", "bodies/q1: no such file", "    r@example.net"} {
		if !strings.Contains(out, want) {
			t.Errorf("queue list lacks %q:\n%s", want, out)
		}
	}
}
