package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Wake-ups across nodes. A commit that makes work due now (Enqueue, an
// Update that leaves the message due: a flush, a release) asks the
// notifier for a NOTIFY on channel outbox_due; the notifier coalesces the
// requests of a burst into one NOTIFY per notifyGap, outside the
// committing transaction (NOTIFY in a transaction serialises every
// notifying commit on one lock). Listen turns the other nodes'
// notifications into the queue's Wake, and wakes it every Lease/2 as
// well, for the work nobody announces: a dead node's claims running out.
// An outcome that finishes a message or defers it announces nothing: it
// gives no node work now, and the node that deferred it keeps the retry's
// timer (the others see the retry at their next look at the queue: a
// wake-up, or the Lease/2 tick).

const (
	notifyChannel = "outbox_due"
	notifyGap     = 100 * time.Millisecond
)

// announce asks for a NOTIFY; it never blocks.
func (db *DB) announce() {
	select {
	case db.notifyReq <- struct{}{}:
	default:
	}
}

// notifyLoop sends the NOTIFYs announce asks for, until Close.
func (db *DB) notifyLoop() {
	defer db.bg.Done()
	for {
		select {
		case <-db.quit:
			return
		case <-db.notifyReq:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := db.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, notifyChannel, db.opts.Node)
		cancel()
		if err != nil {
			db.log.Debug("notify", "err", err)
		}
		select {
		case <-db.quit:
			return
		case <-time.After(notifyGap):
		}
	}
}

// Listen calls wake when another node announces due work, and every
// Lease/2, until ctx ends. A lost connection is reopened (with a wake,
// for what was missed meanwhile). It returns ctx.Err().
func (db *DB) Listen(ctx context.Context, wake func()) error {
	tick := time.NewTicker(db.opts.Lease / 2)
	defer tick.Stop()
	notes := make(chan struct{}, 1)
	go db.listenConn(ctx, notifyChannel, false, nil, func(payload string) {
		if payload == db.opts.Node {
			return // this node's own: its queue was woken already
		}
		select {
		case notes <- struct{}{}:
		default:
		}
	})
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			wake()
		case <-notes:
			wake()
		}
	}
}

// listenConn holds a connection listening on channel and passes each
// notification's payload to on, reconnecting after failures. Once it
// listens again after a lost connection it calls on("") for what was
// announced meanwhile; with first, also once it first listens (for what
// was announced before). lost, unless nil, is called as soon as a
// connection fails, before the retry. It returns when ctx ends.
func (db *DB) listenConn(ctx context.Context, channel string, first bool, lost func(), on func(payload string)) {
	backoff := 100 * time.Millisecond
	for resync := first; ctx.Err() == nil; resync = true {
		err := db.listenOnce(ctx, channel, resync, on)
		if lost != nil {
			lost()
		}
		if ctx.Err() != nil {
			return
		}
		db.log.Warn("listening for other nodes' notifications", "channel", channel, "err", err, "retry", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

func (db *DB) listenOnce(ctx context.Context, channel string, resync bool, on func(payload string)) error {
	conn, err := pgx.ConnectConfig(ctx, db.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return err
	}
	if resync {
		on("")
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		on(n.Payload)
	}
}
