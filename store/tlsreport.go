package store

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// TLS reporting aggregates (RFC 8460).
//
// bucketTLSReports: "YYYY-MM-DD" (UTC day) + 0x00 + policy domain → an
// aggregate whose encoding belongs to its user (queue/tlsrpt); the store
// only keeps it, merges into it under one transaction and hands it back.
// The bucket is created by the first write, so spools without TLS
// reporting hold none.
const bucketTLSReports = "tlsreports"

// TLSReportUpdate is one merge into the aggregate of a day and a policy
// domain.
type TLSReportUpdate struct {
	Day    string // "2006-01-02", UTC
	Domain string // policy domain
	// Merge returns the new aggregate given the stored one (nil when
	// there is none). It may run more than once (a retried batch) and must
	// depend on old only.
	Merge func(old []byte) ([]byte, error)
}

// TLSReport is one stored aggregate.
type TLSReport struct {
	Day, Domain string
	Data        []byte
}

func tlsReportKey(day, domain string) []byte {
	return append(append([]byte(day), 0), domain...)
}

// UpdateTLSReports applies ups in one transaction. An update whose Merge
// fails leaves its aggregate as it was; the others still commit, and the
// first such error is returned.
func (db *DB) UpdateTLSReports(ctx context.Context, ups []TLSReportUpdate) error {
	if len(ups) == 0 {
		return nil
	}
	var mergeErr error
	err := db.write(ctx, func(tx *bolt.Tx) error {
		mergeErr = nil // the op may run again in a retried batch
		b, err := tx.CreateBucketIfNotExists([]byte(bucketTLSReports))
		if err != nil {
			return dirty(err)
		}
		for _, u := range ups {
			if err := CheckTLSReportKey(u.Day, u.Domain); err != nil {
				mergeErr = cmpErr(mergeErr, err)
				continue
			}
			k := tlsReportKey(u.Day, u.Domain)
			v, err := u.Merge(bytes.Clone(b.Get(k)))
			if err != nil {
				mergeErr = cmpErr(mergeErr, err)
				continue
			}
			if err := b.Put(k, v); err != nil {
				return dirty(err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return mergeErr
}

// CheckTLSReportKey refuses an aggregate's key that every backend cannot
// keep: an empty day or domain, a NUL byte.
func CheckTLSReportKey(day, domain string) error {
	if day == "" || domain == "" || strings.IndexByte(day, 0) >= 0 || strings.IndexByte(domain, 0) >= 0 {
		return fmt.Errorf("store: TLS report key %q/%q is invalid", day, domain)
	}
	return nil
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// TLSReports returns the stored aggregates of the days before day (not
// day itself: it is still being counted), oldest first.
func (db *DB) TLSReports(ctx context.Context, before string) ([]TLSReport, error) {
	var out []TLSReport
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketTLSReports))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			day, domain, ok := bytes.Cut(k, []byte{0})
			if !ok || string(day) >= before {
				return nil
			}
			out = append(out, TLSReport{Day: string(day), Domain: string(domain), Data: bytes.Clone(v)})
			return nil
		})
	})
	return out, err
}

// DeleteTLSReport removes the aggregate of day and domain; removing one
// that does not exist is no error.
func (db *DB) DeleteTLSReport(ctx context.Context, day, domain string) error {
	return db.write(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketTLSReports))
		if b == nil {
			return nil
		}
		return dirty(b.Delete(tlsReportKey(day, domain)))
	})
}
