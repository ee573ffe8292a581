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

// serveSuppressions runs an admin server whose suppression list is a real
// spool's, and returns its socket and the spool.
func serveSuppressions(t *testing.T) (string, *store.DB) {
	t.Helper()
	q := admintest.NewQueue(t)
	return admintest.ServeWith(t, admin.Options{Queue: q, Suppressions: q.DB()}), q.DB()
}

// TestSuppressionsVerbs: add (normalised, with note and expiry), list as a
// table and as JSON, remove, and the errors an operator meets.
func TestSuppressionsVerbs(t *testing.T) {
	sock, db := serveSuppressions(t)
	if code, out, errOut := adminRun(t, runSuppressionsList, "--socket", sock); code != exitOK || out != "no suppressed addresses\n" {
		t.Fatalf("empty list: %d %q %q", code, out, errOut)
	}
	code, out, errOut := adminRun(t, runSuppressionsAdd, "Ann@Example.ORG", "--note", "asked to stop", "--expires", "30d", "--socket", sock)
	if code != exitOK || out != "suppressed Ann@example.org\n" {
		t.Fatalf("add: %d %q %q", code, out, errOut)
	}
	got, err := db.Suppressed(context.Background(), []string{"Ann@example.org"}, time.Now())
	if s := got["Ann@example.org"]; err != nil || s.Reason != store.ReasonManual || s.Reply != "asked to stop" ||
		s.Expires.Sub(time.Now()) < 29*24*time.Hour {
		t.Errorf("stored %+v, %v", s, err)
	}
	if _, err := db.Suppress(context.Background(), store.Suppression{Addr: "gone@example.org", Reason: store.ReasonBounce,
		Reply: "550 5.1.1 no such user", MsgID: "33mctoqmt77ck"}); err != nil {
		t.Fatal(err)
	}
	code, out, _ = adminRun(t, runSuppressionsList, "--socket", sock)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != exitOK || len(lines) != 3 || !strings.HasPrefix(lines[0], "ADDRESS") ||
		strings.Join(strings.Fields(lines[1])[:2], " ") != "Ann@example.org manual" || !strings.Contains(lines[2], "550 5.1.1 no such user") {
		t.Errorf("table:\n%s", out)
	}
	code, out, _ = adminRun(t, runSuppressionsList, "--json", "--socket", sock)
	var list []admin.Suppression
	if err := json.Unmarshal([]byte(out), &list); code != exitOK || err != nil || len(list) != 2 ||
		list[1].Reason != "bounce" || list[1].MessageID != "33mctoqmt77ck" || !list[1].Active {
		t.Errorf("json: %v %v\n%s", code, err, out)
	}
	code, out, errOut = adminRun(t, runSuppressionsRemove, "gone@EXAMPLE.org", "nobody@example.org", "--socket", sock)
	if code != exitError || out != "removed gone@example.org\n" || errOut != "not suppressed: nobody@example.org\n" {
		t.Errorf("remove: %d %q %q", code, out, errOut)
	}
	for _, args := range [][]string{{}, {"not-an-address"}, {"a@b.c", "--expires", "-1h"}, {"a@b.c", "--expires", "2000-01-01T00:00:00Z"}} {
		if code, _, _ := adminRun(t, runSuppressionsAdd, append(args, "--socket", sock)...); code != exitUsage {
			t.Errorf("add %v: exit %d, want usage", args, code)
		}
	}
	if code, _, _ := adminRun(t, runSuppressionsRemove, "--socket", sock); code != exitUsage {
		t.Errorf("remove without address: exit %d", code)
	}
}
