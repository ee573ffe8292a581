package pgstore

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/outbox-mta/outbox/store"
)

// The outbound TLS state, shared by every node: tables mtasts_policies
// and tls_levels, keyed as store.DB keys its buckets
// (store.NormalizeDomain).

// MTASTSPolicy returns the cached MTA-STS policy of domain, nil when none.
func (db *DB) MTASTSPolicy(ctx context.Context, domain string) ([]byte, error) {
	var v []byte
	err := db.pool.QueryRow(ctx, `SELECT policy FROM mtasts_policies WHERE domain = $1`, store.NormalizeDomain(domain)).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return v, classify(err)
}

// PutMTASTSPolicy caches the MTA-STS policy v of domain, replacing any.
func (db *DB) PutMTASTSPolicy(ctx context.Context, domain string, v []byte) error {
	k := store.NormalizeDomain(domain)
	if k == "" {
		return store.ErrNoDomain
	}
	if v == nil {
		v = []byte{}
	}
	return db.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO mtasts_policies (domain, policy) VALUES ($1, $2)
			ON CONFLICT (domain) DO UPDATE SET policy = excluded.policy`, k, v)
		return err
	})
}

// TLSLevel returns the TLS level remembered for domain, 0 when none.
func (db *DB) TLSLevel(ctx context.Context, domain string) (uint8, error) {
	var l int16
	err := db.pool.QueryRow(ctx, `SELECT level FROM tls_levels WHERE domain = $1`, store.NormalizeDomain(domain)).Scan(&l)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return uint8(l), classify(err)
}

// RaiseTLSLevel remembers level for domain when it is above the level
// kept; one statement, so concurrent raises on any node keep the highest.
func (db *DB) RaiseTLSLevel(ctx context.Context, domain string, level uint8) error {
	k := store.NormalizeDomain(domain)
	if level == 0 {
		return nil // nothing is below it (as store.DB)
	}
	if k == "" {
		return store.ErrNoDomain
	}
	return db.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO tls_levels (domain, level) VALUES ($1, $2)
			ON CONFLICT (domain) DO UPDATE SET level = excluded.level WHERE tls_levels.level < excluded.level`, k, int16(level))
		return err
	})
}

// ResetTLSLevel forgets the TLS level of domain and reports whether one
// was kept.
func (db *DB) ResetTLSLevel(ctx context.Context, domain string) (bool, error) {
	k := store.NormalizeDomain(domain)
	if k == "" {
		return false, store.ErrNoDomain
	}
	t, err := db.pool.Exec(ctx, `DELETE FROM tls_levels WHERE domain = $1`, k)
	if err != nil {
		return false, classify(err)
	}
	return t.RowsAffected() > 0, nil
}

// TLSLevels returns every remembered TLS level by domain.
func (db *DB) TLSLevels(ctx context.Context) (map[string]uint8, error) {
	rows, err := db.pool.Query(ctx, `SELECT domain, level FROM tls_levels`)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	out := map[string]uint8{}
	for rows.Next() {
		var d string
		var l int16
		if err := rows.Scan(&d, &l); err != nil {
			return nil, classify(err)
		}
		out[d] = uint8(l)
	}
	return out, classify(rows.Err())
}
