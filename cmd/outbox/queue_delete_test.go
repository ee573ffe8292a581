package main

import (
	"testing"

	"github.com/outbox-mta/outbox/queue/admin/admintest"
)

func TestQueueDelete(t *testing.T) {
	testOnMessageVerb(t, runQueueDelete, "delete", "deleted", func(t *testing.T, q *admintest.Queue) {
		if q.Message("m1") != nil {
			t.Error("m1 still queued")
		}
	})
}
