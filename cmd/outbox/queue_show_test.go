package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestQueueShow(t *testing.T) {
	q := adminFixture(t)
	code, out, errOut := adminRunOn(t, q, runQueueShow, "m1")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{
		"id:        m1\n",
		"from:      alice@example.com\n",
		"(1h30m ago)\n",
		"size:      55 bytes\n",
		"client:    127.0.0.1:4000\n",
		"user:      alice\n",
		"recipients:\n  bob@example.org  deferred  attempts 2  next ",
		"    last reply: 451 4.7.1 greylisted try later\n",
		"  deferred  451 4.7.1  host mx.example.org[192.0.2.1]:25  tls TLS1.3 TLS_AES_128_GCM_SHA256 verified  greylisted\n",
		"  carol@example.net  delivered  attempts 1\n",
		"headers:\n  Subject: hello\n  From: alice@example.com\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\r") {
		t.Error("output contains CR")
	}
}

func TestQueueShowJSONAfterID(t *testing.T) {
	q := adminFixture(t)
	code, out, errOut := adminRunOn(t, q, runQueueShow, "m2", "--json")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var got struct {
		Message struct {
			ID   string `json:"id"`
			From string `json:"from"`
		} `json:"message"`
		Headers string `json:"headers"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got.Message.ID != "m2" || got.Message.From != "" || got.Headers != "Subject: bounce\r\n" {
		t.Errorf("got %+v", got)
	}
}

func TestQueueShowErrors(t *testing.T) {
	q := adminFixture(t)
	tests := []struct {
		args     []string
		wantCode int
		errText  string
	}{
		{[]string{"nope"}, exitError, "no such message: nope\n"},
		{nil, exitUsage, "want exactly one message ID"},
		{[]string{"m1", "m2"}, exitUsage, "want exactly one message ID"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := adminRunOn(t, q, runQueueShow, tt.args...)
			if code != tt.wantCode || out != "" || !strings.Contains(errOut, tt.errText) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q", code, out, errOut, tt.wantCode, tt.errText)
			}
		})
	}
}
