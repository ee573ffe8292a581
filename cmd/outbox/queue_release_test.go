package main

import (
	"context"
	"testing"

	"github.com/outbox-mta/outbox/queue/admin/admintest"
	"github.com/outbox-mta/outbox/store"
)

func TestQueueRelease(t *testing.T) {
	testOnMessageVerb(t, runQueueRelease, "release", "released", func(t *testing.T, q *admintest.Queue) {})

	// Hold then release through the CLI: the recipient is queued again.
	q := adminFixture(t)
	for _, verb := range []func(context.Context, *cli, []string) int{runQueueHold, runQueueRelease} {
		if code, _, errOut := adminRunOn(t, q, verb, "m1"); code != exitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
	}
	if st := q.Message("m1").Recipients[0].State; st != store.StateQueued {
		t.Errorf("after hold and release: state %v, want queued", st)
	}
}
