package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/queue/admin/admintest"
	"github.com/outbox-mta/outbox/store"
)

// `queue show` reports the DSN parameters (RFC 3461) of the message and of
// each recipient, in text and in JSON.
func TestQueueShowDSNParameters(t *testing.T) {
	q := admintest.NewQueue(t)
	q.Add(&store.Message{
		ID: "d1", From: "app@example.com", Received: time.Now(), EnvID: "order-42", Ret: store.RetHdrs,
		Recipients: []store.Recipient{
			{Addr: "bob@example.org", State: store.StateQueued, Notify: store.NotifySuccess | store.NotifyFailure, ORcpt: "rfc822;Bob@Example.org"},
			{Addr: "carol@example.org", State: store.StateQueued, Notify: store.NotifyNever},
			{Addr: "dave@example.org", State: store.StateQueued},
		},
	}, "Subject: x\r\n")

	code, out, errOut := adminRunOn(t, q, runQueueShow, "d1")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{
		"envid:     order-42\n",
		"ret:       HDRS\n",
		"  bob@example.org  queued  attempts 0\n    dsn: notify=SUCCESS,FAILURE orcpt=rfc822;Bob@Example.org\n",
		"  carol@example.org  queued  attempts 0\n    dsn: notify=NEVER\n",
		"  dave@example.org  queued  attempts 0\n\nheaders:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	code, out, errOut = adminRunOn(t, q, runQueueShow, "d1", "--json")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var got struct {
		Message struct {
			EnvID      string `json:"envid"`
			Ret        string `json:"ret"`
			Recipients []struct {
				Notify []string `json:"notify"`
				ORcpt  string   `json:"orcpt"`
			} `json:"recipients"`
		} `json:"message"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	m := got.Message
	if m.EnvID != "order-42" || m.Ret != "HDRS" || len(m.Recipients) != 3 ||
		strings.Join(m.Recipients[0].Notify, ",") != "SUCCESS,FAILURE" || m.Recipients[0].ORcpt != "rfc822;Bob@Example.org" ||
		strings.Join(m.Recipients[1].Notify, ",") != "NEVER" || m.Recipients[2].Notify != nil {
		t.Errorf("JSON %+v", m)
	}
}
