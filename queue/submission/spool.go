package submission

import (
	"context"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// Spool is what the listener needs from storage: a place to stream a body
// (store.Body: written, read back for a re-encoding pass, discarded when
// the transaction fails) and a durable commit. Enqueue returning nil means
// the message is on disk (fsynced); only then does the client get its 250.
// *store.DB and *pgstore.DB satisfy it (cmd/outbox checks both).
type Spool interface {
	NewBody() (*store.Body, error)
	Enqueue(ctx context.Context, m *store.Message, b *store.Body) error
	// EnqueueOnce is Enqueue with an idempotency record in the same
	// transaction; a record created after since is returned instead, and
	// nothing is stored.
	EnqueueOnce(ctx context.Context, m *store.Message, b *store.Body, rec *store.Idempotency, since time.Time) (*store.Idempotency, error)
}

var _ Spool = (*store.DB)(nil)

// Waker is told of every commit the listener makes to the spool, so that
// the scheduler attempts a fresh message at once rather than at its next
// timer, and learns early that the spool refuses commits. Spooled is
// called after Enqueue returns, with its error (nil: committed), and must
// not block. *queue.Queue satisfies it.
type Waker interface {
	Spooled(err error)
}
