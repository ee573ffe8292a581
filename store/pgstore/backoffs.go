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

// Down implements queue.DownList.
func (b *Backoffs) Down(ctx context.Context, domain string, now time.Time) (time.Time, string, bool, error) {
	var left int64
	var reply string
	err := b.db.pool.QueryRow(ctx, `SELECT (extract(epoch FROM until - clock_timestamp()) * 1e6)::bigint, reply
		FROM destinations_down WHERE domain = $1 AND until > clock_timestamp()`, domain).Scan(&left, &reply)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, "", false, nil
	}
	if err != nil {
		return time.Time{}, "", false, classify(err)
	}
	return now.Add(time.Duration(left) * time.Microsecond), reply, true, nil
}

// SetDown implements queue.DownList: a later back-off already set is kept.
// It also deletes the back-offs that ended (setting one is rare: a
// destination just went down).
func (b *Backoffs) SetDown(ctx context.Context, domain string, until time.Time, reply string, now time.Time) error {
	batch := &pgx.Batch{}
	batch.Queue(`INSERT INTO destinations_down AS d (domain, until, reply, node, since)
		VALUES ($1, clock_timestamp() + $2 * interval '1 microsecond', $3, $4, clock_timestamp())
		ON CONFLICT (domain) DO UPDATE SET until = excluded.until, reply = excluded.reply, node = excluded.node,
			since = CASE WHEN d.until > clock_timestamp() THEN d.since ELSE excluded.since END
		WHERE d.until < excluded.until`, domain, until.Sub(now).Microseconds(), reply, b.db.opts.Node)
	batch.Queue(`DELETE FROM destinations_down WHERE until <= clock_timestamp()`)
	return classify(b.db.pool.SendBatch(ctx, batch).Close())
}

// ClearDown implements queue.DownList; "" clears every back-off.
func (b *Backoffs) ClearDown(ctx context.Context, domain string) error {
	var err error
	if domain == "" {
		_, err = b.db.pool.Exec(ctx, `DELETE FROM destinations_down`)
	} else {
		_, err = b.db.pool.Exec(ctx, `DELETE FROM destinations_down WHERE domain = $1`, domain)
	}
	return classify(err)
}

// CountDown implements queue.DownList.
func (b *Backoffs) CountDown(ctx context.Context, _ time.Time) (int, error) {
	var n int64
	err := b.db.pool.QueryRow(ctx, `SELECT count(*) FROM destinations_down WHERE until > clock_timestamp()`).Scan(&n)
	return int(n), classify(err)
}
