package submission

import (
	"context"
	"fmt"
	"io"

	"github.com/outbox-mta/outbox/store"
)

// Body is a message body being written to the spool before it is committed.
// *store.Body has this shape; AdaptStore bridges the concrete type.
type Body interface {
	io.Writer
	// ID is the queue ID the message will be committed under.
	ID() string
	// Discard releases an uncommitted body; it is a no-op after a
	// successful Enqueue.
	Discard() error
	// Open reads back what was written so far (before Enqueue), for a
	// second pass that re-encodes the message (see conform).
	Open() (io.ReadCloser, error)
}

// Spool is what the listener needs from storage: a place to stream a body
// and a durable commit. Enqueue returning nil means the message is on disk
// (fsynced); only then does the client get its 250.
type Spool interface {
	NewBody() (Body, error)
	Enqueue(ctx context.Context, m *store.Message, b Body) error
}

// StoreSpool is the shape of *store.DB (and of a queue wrapper around it
// that also wakes the scheduler): the same two methods with the store's
// concrete body type.
type StoreSpool interface {
	NewBody() (*store.Body, error)
	Enqueue(ctx context.Context, m *store.Message, b *store.Body) error
}

var _ StoreSpool = (*store.DB)(nil)

// AdaptStore turns a StoreSpool such as *store.DB into a Spool.
func AdaptStore(s StoreSpool) Spool { return storeSpool{s} }

type storeSpool struct{ s StoreSpool }

func (a storeSpool) NewBody() (Body, error) {
	b, err := a.s.NewBody()
	if err != nil {
		return nil, err
	}
	return b, nil
}

func (a storeSpool) Enqueue(ctx context.Context, m *store.Message, b Body) error {
	sb, ok := b.(*store.Body)
	if !ok {
		// Only bodies made by NewBody above reach here; anything else is a
		// programming error, reported rather than panicking a session.
		return fmt.Errorf("submission: body of type %T is not a *store.Body", b)
	}
	return a.s.Enqueue(ctx, m, sb)
}
