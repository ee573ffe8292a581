package main

import (
	"context"

	"github.com/outbox-mta/outbox/queue"
	"github.com/outbox-mta/outbox/queue/dsn"
	"github.com/outbox-mta/outbox/store"
)

// bounceNotifier adapts queue/dsn to the queue's NotifyFunc: it turns the
// spool's records of a bounce into an RFC 3464 notice carrying the original
// message's header block.
func bounceNotifier(hostname string, db *store.DB) queue.NotifyFunc {
	return func(m *store.Message, bounced []store.Recipient) ([]byte, error) {
		n := &dsn.Notice{
			ReportingMTA: hostname,
			QueueID:      m.ID,
			Sender:       m.From,
			Arrival:      m.Received,
			Recipients:   queue.NoticeRecipients(bounced, dsn.Failed),
		}
		// The original header block goes in the notice; a body that
		// cannot be read only loses that part, not the notice.
		if rc, err := db.OpenBody(context.Background(), m.ID); err == nil {
			n.Headers, _ = dsn.ReadHeaders(rc)
			rc.Close()
		}
		return dsn.Build(n)
	}
}
