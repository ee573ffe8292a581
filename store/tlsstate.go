package store

import (
	"context"
	"errors"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Buckets of the outbound TLS state, created on first write: spools
// written before they existed open unchanged.
const (
	// bucketMTASTS: lower-case domain → cached MTA-STS policy, opaque to
	// the store (the delivery/mtasts package's encoding).
	bucketMTASTS = "mtasts"
	// bucketTLSLevel: lower-case domain → one byte, the best TLS level the
	// domain has shown (the downgrade memory; levels are the caller's).
	bucketTLSLevel = "tlslevel"
)

// errNoDomain refuses an empty domain key (bbolt refuses empty keys).
var errNoDomain = errors.New("store: empty domain")

func domainKey(domain string) []byte {
	return []byte(strings.ToLower(strings.TrimSuffix(domain, ".")))
}

// MTASTSPolicy returns the cached MTA-STS policy of domain, nil when none.
func (db *DB) MTASTSPolicy(ctx context.Context, domain string) ([]byte, error) {
	return db.getTLSState(ctx, bucketMTASTS, domain)
}

// PutMTASTSPolicy caches the MTA-STS policy v of domain, replacing any.
func (db *DB) PutMTASTSPolicy(ctx context.Context, domain string, v []byte) error {
	k := domainKey(domain)
	if len(k) == 0 {
		return errNoDomain
	}
	return db.write(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(bucketMTASTS))
		if err != nil {
			return dirty(err)
		}
		return dirty(b.Put(k, append([]byte(nil), v...)))
	})
}

// TLSLevel returns the TLS level remembered for domain, 0 when none.
func (db *DB) TLSLevel(ctx context.Context, domain string) (uint8, error) {
	v, err := db.getTLSState(ctx, bucketTLSLevel, domain)
	if err != nil || len(v) == 0 {
		return 0, err
	}
	return v[0], nil
}

// RaiseTLSLevel remembers level for domain when it is above the level
// kept. It writes only then: the common case, a domain showing the level
// it always shows, costs one read.
func (db *DB) RaiseTLSLevel(ctx context.Context, domain string, level uint8) error {
	cur, err := db.TLSLevel(ctx, domain)
	if err != nil || level <= cur {
		return err
	}
	k := domainKey(domain)
	if len(k) == 0 {
		return errNoDomain
	}
	return db.write(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(bucketTLSLevel))
		if err != nil {
			return dirty(err)
		}
		if v := b.Get(k); len(v) > 0 && v[0] >= level {
			return nil // raised meanwhile
		}
		return dirty(b.Put(k, []byte{level}))
	})
}

// ResetTLSLevel forgets the TLS level of domain and reports whether one was
// kept.
func (db *DB) ResetTLSLevel(ctx context.Context, domain string) (bool, error) {
	k := domainKey(domain)
	if len(k) == 0 {
		return false, errNoDomain
	}
	found := false
	err := db.write(ctx, func(tx *bolt.Tx) error {
		found = false // the op may run again in a retried batch
		b := tx.Bucket([]byte(bucketTLSLevel))
		if b == nil || b.Get(k) == nil {
			return nil
		}
		found = true
		return dirty(b.Delete(k))
	})
	return found, err
}

// TLSLevels returns every remembered TLS level by domain.
func (db *DB) TLSLevels(ctx context.Context) (map[string]uint8, error) {
	out := map[string]uint8{}
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketTLSLevel))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if len(v) > 0 {
				out[string(k)] = v[0]
			}
			return nil
		})
	})
	return out, err
}

// getTLSState reads domain's value in the named bucket; nil when absent.
func (db *DB) getTLSState(ctx context.Context, name, domain string) ([]byte, error) {
	var out []byte
	err := db.view(ctx, func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte(name)); b != nil {
			if v := b.Get(domainKey(domain)); v != nil {
				out = append([]byte(nil), v...)
			}
		}
		return nil
	})
	return out, err
}
