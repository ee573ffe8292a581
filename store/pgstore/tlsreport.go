package pgstore

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/outbox-mta/outbox/store"
)

// TLS reporting aggregates (RFC 8460): table tls_reports, one row per
// UTC day and policy domain, merged into by every node.

// UpdateTLSReports applies ups in one transaction, each aggregate under
// its advisory lock (lockKeys), so the merges of several nodes add up. An
// update whose Merge fails leaves its aggregate as it was; the others
// still commit, and the first such error is returned.
func (db *DB) UpdateTLSReports(ctx context.Context, ups []store.TLSReportUpdate) error {
	if len(ups) == 0 {
		return nil
	}
	var mergeErr error
	keep := func(err error) {
		if mergeErr == nil {
			mergeErr = err
		}
	}
	err := db.tx(ctx, func(tx pgx.Tx) error {
		mergeErr = nil
		keys := make([]string, 0, len(ups))
		for _, u := range ups {
			if store.CheckTLSReportKey(u.Day, u.Domain) == nil {
				keys = append(keys, u.Day+"/"+u.Domain)
			}
		}
		if err := lockKeys(ctx, tx, "outbox tlsrpt ", keys); err != nil {
			return err
		}
		for _, u := range ups {
			if err := store.CheckTLSReportKey(u.Day, u.Domain); err != nil {
				keep(err)
				continue
			}
			var old []byte
			err := tx.QueryRow(ctx, `SELECT data FROM tls_reports WHERE day = $1 AND domain = $2`, u.Day, u.Domain).Scan(&old)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			v, err := u.Merge(old)
			if err != nil {
				keep(err)
				continue
			}
			if v == nil {
				v = []byte{}
			}
			if _, err := tx.Exec(ctx, `INSERT INTO tls_reports (day, domain, data) VALUES ($1, $2, $3)
				ON CONFLICT (day, domain) DO UPDATE SET data = excluded.data`, u.Day, u.Domain, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return mergeErr
}

// TLSReports returns the stored aggregates of the days before day (not
// day itself: it is still being counted), oldest first.
func (db *DB) TLSReports(ctx context.Context, before string) ([]store.TLSReport, error) {
	rows, err := db.pool.Query(ctx, `SELECT day, domain, data FROM tls_reports WHERE day < $1
		ORDER BY day COLLATE "C", domain COLLATE "C"`, before)
	if err != nil {
		return nil, classify(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.TLSReport, error) {
		var t store.TLSReport
		err := r.Scan(&t.Day, &t.Domain, &t.Data)
		return t, err
	})
	if len(out) == 0 {
		out = nil // as store.DB: none is nil
	}
	return out, classify(err)
}

// DeleteTLSReport removes the aggregate of day and domain; removing one
// that does not exist is no error.
func (db *DB) DeleteTLSReport(ctx context.Context, day, domain string) error {
	_, err := db.pool.Exec(ctx, `DELETE FROM tls_reports WHERE day = $1 AND domain = $2`, day, domain)
	return classify(err)
}
