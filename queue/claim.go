package queue

import (
	"context"
	"time"
)

// Claimer is a spool shared by several nodes (store/pgstore): Claim takes
// the due messages ids for this node, so no other node starts them while
// this one delivers (a lease; the store fences the outcome), and returns
// those it took, in the order given; a message another node holds, or no
// longer due, is left out. The dispatcher picks its work from the due
// index (per lane) and claims what it starts; every other look at the due
// index (how long to sleep, whether anything waits) claims nothing.
type Claimer interface {
	Claim(ctx context.Context, now time.Time, ids []string) ([]string, error)
}

// claim takes ids for this node when the store is shared; a store of one
// node has nothing to claim.
func (q *Queue) claim(ctx context.Context, now time.Time, ids []string) ([]string, error) {
	c, ok := q.store.(Claimer)
	if !ok || len(ids) == 0 {
		return ids, nil
	}
	return c.Claim(ctx, now, ids)
}
