package main

import (
	"context"

	"github.com/outbox-mta/outbox/queue"
	"github.com/outbox-mta/outbox/queue/dsn"
	"github.com/outbox-mta/outbox/store"
)

// bounceNotifier adapts queue/dsn to the queue's NotifyFunc: it turns the
// spool's records of a bounce (or of a NOTIFY=SUCCESS relay) into an RFC
// 3464 notice carrying the ENVID and ORCPTs the sender gave and the
// original message's header block, or with RET=FULL the message itself.
func bounceNotifier(hostname string, db *store.DB) queue.NotifyFunc {
	return func(m *store.Message, rcpts []store.Recipient) ([]byte, error) {
		n := &dsn.Notice{
			ReportingMTA: hostname,
			QueueID:      m.ID,
			EnvelopeID:   m.EnvID,
			Sender:       m.From,
			Arrival:      m.Received,
			Recipients:   queue.NoticeRecipients(rcpts),
		}
		// The original goes in the notice; a body that cannot be read
		// only loses that part, not the notice.
		if rc, err := db.OpenBody(context.Background(), m.ID); err == nil {
			if m.Ret == store.RetFull {
				n.Full, n.FullComplete, _ = dsn.ReadMessage(rc)
				n.Headers = n.Full
			} else {
				n.Headers, _ = dsn.ReadHeaders(rc)
			}
			rc.Close()
		}
		return dsn.Build(n)
	}
}
