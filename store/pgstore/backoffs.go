package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// Backoffs is the list of destinations found down, shared by the nodes of
// one database (queue.DownList; migration 003's destinations_down): a
// back-off one node sets, every node honours until it ends, and a
// delivery that gets through on any node clears it. Get one with
// DB.Backoffs.
//
// The deadline is kept in the database's clock: SetDown stores
// clock_timestamp() plus (until - now) of the caller's clock, and Down
// returns now plus what remains of it. Nodes whose clocks disagree thus
// wait out the same back-off; only a round trip's latency separates
// them.
type Backoffs struct{ db *DB }

// Backoffs returns the shared down list of db.
func (db *DB) Backoffs() *Backoffs { return &Backoffs{db: db} }

// Down implements queue.DownList, from this node's view of the list
// (view.go) while it is trusted, else from the database.
func (b *Backoffs) Down(ctx context.Context, domain string, now time.Time) (time.Time, string, bool, error) {
	if e, down, known := b.db.view().lookupDown(domain); known {
		if !down || !e.until.After(time.Now()) {
			return time.Time{}, "", false, nil
		}
		return now.Add(time.Until(e.until)), e.reply, true, nil
	}
	until, reply, down, err := b.read(ctx, domain)
	if !down || err != nil {
		return time.Time{}, "", false, err
	}
	return now.Add(time.Until(until)), reply, true, nil
}

// read reads domain's running back-off from the database, its end in
// this process's clock.
func (b *Backoffs) read(ctx context.Context, domain string) (until time.Time, reply string, down bool, err error) {
	var left int64
	err = b.db.pool.QueryRow(ctx, `SELECT (extract(epoch FROM until - clock_timestamp()) * 1e6)::bigint, reply
		FROM destinations_down WHERE domain = $1 AND until > clock_timestamp()`, domain).Scan(&left, &reply)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, "", false, nil
	}
	if err != nil {
		return time.Time{}, "", false, classify(err)
	}
	return time.Now().Add(time.Duration(left) * time.Microsecond), reply, true, nil
}

// SetDown implements queue.DownList: a later back-off already set is kept.
// It also deletes the back-offs that ended (setting one is rare: a
// destination just went down). Each row written or deleted is notified
// to the nodes' views in the same statement.
func (b *Backoffs) SetDown(ctx context.Context, domain string, until time.Time, reply string, now time.Time) error {
	batch := &pgx.Batch{}
	batch.Queue(`WITH w AS (INSERT INTO destinations_down AS d (domain, until, reply, node, since)
		VALUES ($1, clock_timestamp() + $2 * interval '1 microsecond', $3, $4, clock_timestamp())
		ON CONFLICT (domain) DO UPDATE SET until = excluded.until, reply = excluded.reply, node = excluded.node,
			since = CASE WHEN d.until > clock_timestamp() THEN d.since ELSE excluded.since END
		WHERE d.until < excluded.until RETURNING domain)
		SELECT pg_notify($5, 'd:' || domain) FROM w`, domain, until.Sub(now).Microseconds(), reply, b.db.opts.Node, viewChannel)
	batch.Queue(`WITH w AS (DELETE FROM destinations_down WHERE until <= clock_timestamp() RETURNING domain)
		SELECT pg_notify($1, 'd:' || domain) FROM w`, viewChannel)
	if err := b.db.pool.SendBatch(ctx, batch).Close(); err != nil {
		return classify(err)
	}
	b.db.view().note("d:" + domain)
	return nil
}

// ClearDown implements queue.DownList; "" clears every back-off. A
// domain this node's view knows is not down costs no statement (the
// common case: every successful delivery clears its destination).
func (b *Backoffs) ClearDown(ctx context.Context, domain string) error {
	if domain != "" {
		if _, down, known := b.db.view().lookupDown(domain); known && !down {
			return nil
		}
	}
	var err error
	if domain == "" {
		_, err = b.db.pool.Exec(ctx, `WITH w AS (DELETE FROM destinations_down RETURNING domain)
			SELECT pg_notify($1, 'd:' || domain) FROM w`, viewChannel)
	} else {
		_, err = b.db.pool.Exec(ctx, `WITH w AS (DELETE FROM destinations_down WHERE domain = $1 RETURNING domain)
			SELECT pg_notify($2, 'd:' || domain) FROM w`, domain, viewChannel)
		b.db.view().note("d:" + domain)
	}
	return classify(err)
}

// CountDown implements queue.DownList.
func (b *Backoffs) CountDown(ctx context.Context, _ time.Time) (int, error) {
	if n, known := b.db.view().countDown(); known {
		return n, nil
	}
	var n int64
	err := b.db.pool.QueryRow(ctx, `SELECT count(*) FROM destinations_down WHERE until > clock_timestamp()`).Scan(&n)
	return int(n), classify(err)
}
