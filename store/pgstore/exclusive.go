package pgstore

import (
	"context"
	"hash/fnv"
)

// Exclusive runs run only if no other node (no other connection) is
// running the job named name, and reports whether it ran: a session
// advisory lock keyed by the name, held on one pooled connection for the
// job's duration and released after it (or by the server, if the
// connection dies). The maintenance jobs run through it, so two nodes
// never send the same delay warning.
func (db *DB) Exclusive(ctx context.Context, name string, run func(ctx context.Context) error) (bool, error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return false, classify(err)
	}
	defer conn.Release()
	h := fnv.New64a()
	h.Write([]byte("outbox job " + name))
	key := int64(h.Sum64())
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got); err != nil {
		return false, classify(err)
	}
	if !got {
		return false, nil
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key)
	return true, run(ctx)
}
