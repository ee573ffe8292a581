package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The suppression list.
//
// Bucket "suppressions" maps a normalised address (NormalizeAddress) to
// its entry; bucket "suppress.strikes" counts, per address, the
// consecutive outcomes that lead to an entry only after several (the
// queue's expirations). Entries are added by hand (Suppress) or by an
// Update whose fn sets Message.Suppress, in the transaction that records
// the outcome causing them, so an outcome and its entry are never split
// by a crash. A recipient delivered at an address resets its count and
// removes an automatic entry (it was reachable after all); a manual entry
// stays until it is removed by hand or expires.

// SuppressReason is why an address is on the suppression list.
type SuppressReason uint8

// Reasons.
const (
	ReasonBounce      SuppressReason = iota + 1 // a permanent "no such mailbox" failure
	ReasonExpirations                           // consecutive deliveries given up as expired
	ReasonManual                                // added by an operator or the application
)

// String returns the name used in the HTTP API, the CLI and JSON.
func (r SuppressReason) String() string {
	switch r {
	case ReasonBounce:
		return "bounce"
	case ReasonExpirations:
		return "expirations"
	case ReasonManual:
		return "manual"
	}
	return "unknown"
}

// ParseSuppressReason is the inverse of String.
func ParseSuppressReason(s string) (SuppressReason, bool) {
	for r := ReasonBounce; r <= ReasonManual; r++ {
		if r.String() == s {
			return r, true
		}
	}
	return 0, false
}

// Suppression is one entry of the suppression list: mail to Addr is not
// attempted while it is active.
type Suppression struct {
	Addr    string // normalised (NormalizeAddress)
	Reason  SuppressReason
	Reply   string    // the reply that caused it ("550 5.1.1 no such user"), or an operator's note
	MsgID   string    // the message whose outcome caused it; "" when added by hand
	Created time.Time // when it was added
	Expires time.Time // when it stops applying; zero: never
}

// Active reports whether s applies at now.
func (s *Suppression) Active(now time.Time) bool {
	return s.Expires.IsZero() || now.Before(s.Expires)
}

// Listing is a change to the suppression list that an Update makes with
// the outcome that causes it (Message.Suppress).
type Listing struct {
	Suppression
	// After is how many consecutive listings of the address with this
	// reason it takes to add the entry: each one counts, the After-th
	// adds it and resets the count; a delivery to the address resets it
	// too. 0 or 1 adds it at once.
	After int
}

// ErrBadAddress is returned for an address without a local part and a
// domain.
var ErrBadAddress = errors.New("store: not an address (local@domain)")

// NormalizeAddress returns the form of addr the suppression list is keyed
// by. The domain is lower-cased and loses a trailing dot (NormalizeDomain:
// RFC 5321 §2.4 makes it case-insensitive; it is not converted to
// A-labels, as nowhere in the spool). The local part is kept exactly:
// RFC 5321 §2.4 leaves its meaning to the destination host, which may
// tell "Ann" from "ann" and gives no meaning to dots or "+tags" that a
// sender could assume. Only its quoting is normalised: a quoted local part
// whose content is a valid dot-atom is the same mailbox unquoted (RFC
// 5321 §4.1.2), so "\"ann\"@x" and "ann@x" are one entry. "" when addr has
// no "@", no local part or no domain.
func NormalizeAddress(addr string) string {
	addr = strings.TrimSpace(addr)
	addr = strings.TrimSuffix(strings.TrimPrefix(addr, "<"), ">")
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return ""
	}
	local, domain := addr[:at], NormalizeDomain(addr[at+1:])
	if domain == "" {
		return ""
	}
	if len(local) > 2 && local[0] == '"' && local[len(local)-1] == '"' && isDotAtom(local[1:len(local)-1]) {
		local = local[1 : len(local)-1]
	}
	return local + "@" + domain
}

// isDotAtom reports whether s is a Dot-string of RFC 5321 §4.1.2: atoms
// of atext joined by single dots.
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c >= 0x80:
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// Suppress adds s to the list, replacing an entry for the same address.
// s.Addr is normalised; a zero Created is now.
func (db *DB) Suppress(ctx context.Context, s Suppression) (Suppression, error) {
	s, err := PrepareSuppression(s, db.now())
	if err != nil {
		return s, err
	}
	err = db.write(ctx, func(tx *bolt.Tx) error {
		if err := bucket(tx, bucketSuppressions).Put([]byte(s.Addr), encodeSuppression(&s)); err != nil {
			return dirty(err)
		}
		return dirty(bucket(tx, bucketStrikes).Delete([]byte(s.Addr)))
	})
	return s, err
}

// Unsuppress removes addr's entry (and its count of consecutive
// outcomes); ErrNotFound when it has none.
func (db *DB) Unsuppress(ctx context.Context, addr string) error {
	key := []byte(NormalizeAddress(addr))
	if len(key) == 0 {
		return ErrBadAddress
	}
	return db.write(ctx, func(tx *bolt.Tx) error {
		list := bucket(tx, bucketSuppressions)
		if list.Get(key) == nil {
			return fmt.Errorf("%w: %s is not suppressed", ErrNotFound, key)
		}
		if err := list.Delete(key); err != nil {
			return dirty(err)
		}
		return dirty(bucket(tx, bucketStrikes).Delete(key))
	})
}

// Suppressions lists up to limit entries (0: all) with an address after
// after, in address order, expired ones included: Active tells them apart.
func (db *DB) Suppressions(ctx context.Context, after string, limit int) ([]Suppression, error) {
	var out []Suppression
	err := db.view(ctx, func(tx *bolt.Tx) error {
		c := bucket(tx, bucketSuppressions).Cursor()
		k, v := c.First()
		if after != "" {
			if k, v = c.Seek([]byte(after)); k != nil && string(k) == after {
				k, v = c.Next()
			}
		}
		for ; k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
			s, err := decodeSuppression(string(k), v)
			if err != nil {
				db.log.Warn("skipping corrupt suppression entry", "addr", string(k), "err", err)
				continue
			}
			out = append(out, s)
		}
		return nil
	})
	return out, err
}

// Suppression returns addr's entry, active or expired; ErrNotFound when
// it has none.
func (db *DB) Suppression(ctx context.Context, addr string) (Suppression, error) {
	key := NormalizeAddress(addr)
	if key == "" {
		return Suppression{}, ErrBadAddress
	}
	var s Suppression
	err := db.view(ctx, func(tx *bolt.Tx) error {
		v := bucket(tx, bucketSuppressions).Get([]byte(key))
		if v == nil {
			return fmt.Errorf("%w: %s is not suppressed", ErrNotFound, key)
		}
		var err error
		s, err = decodeSuppression(key, v)
		return err
	})
	return s, err
}

// Suppressed returns the active entries (at now) of addrs, keyed by the
// address as given; addresses without one are absent.
func (db *DB) Suppressed(ctx context.Context, addrs []string, now time.Time) (map[string]Suppression, error) {
	var out map[string]Suppression
	err := db.view(ctx, func(tx *bolt.Tx) error {
		list := bucket(tx, bucketSuppressions)
		for _, a := range addrs {
			key := NormalizeAddress(a)
			v := list.Get([]byte(key))
			if v == nil {
				continue
			}
			s, err := decodeSuppression(key, v)
			if err != nil || !s.Active(now) {
				continue
			}
			if out == nil {
				out = make(map[string]Suppression)
			}
			out[a] = s
		}
		return nil
	})
	return out, err
}

// PruneSuppressions removes the entries that expired before now and
// reports how many.
func (db *DB) PruneSuppressions(ctx context.Context, now time.Time) (int, error) {
	var old [][]byte
	err := db.view(ctx, func(tx *bolt.Tx) error {
		return bucket(tx, bucketSuppressions).ForEach(func(k, v []byte) error {
			if s, err := decodeSuppression(string(k), v); err == nil && !s.Active(now) {
				old = append(old, bytes.Clone(k))
			}
			return nil
		})
	})
	if err != nil || len(old) == 0 {
		return 0, err
	}
	n := 0
	err = db.write(ctx, func(tx *bolt.Tx) error {
		list := bucket(tx, bucketSuppressions)
		n = 0
		for _, k := range old {
			// Re-read: it may have been replaced since.
			if s, err := decodeSuppression(string(k), list.Get(k)); err == nil && !s.Active(now) {
				if err := list.Delete(k); err != nil {
					return dirty(err)
				}
				n++
			}
		}
		return nil
	})
	return n, err
}

// applyListings carries out after.Suppress and the resets of ApplyListings
// inside Update's transaction.
func (db *DB) applyListings(tx *bolt.Tx, before, after *Message) error {
	return ApplyListings(boltListTx{bucket(tx, bucketSuppressions), bucket(tx, bucketStrikes)}, before, after, db.now())
}

// boltListTx is the suppression list within a bbolt transaction.
type boltListTx struct{ list, strikes *bolt.Bucket }

func (b boltListTx) Entry(addr string) (Suppression, bool, error) {
	v := b.list.Get([]byte(addr))
	if v == nil {
		return Suppression{}, false, nil
	}
	s, err := decodeSuppression(addr, v)
	return s, true, err
}

func (b boltListTx) Put(s Suppression) error {
	return b.list.Put([]byte(s.Addr), encodeSuppression(&s))
}

func (b boltListTx) Delete(addr string) error { return b.list.Delete([]byte(addr)) }

func (b boltListTx) Strikes(addr string) (int, error) {
	n, _ := binary.Uvarint(b.strikes.Get([]byte(addr)))
	return int(n), nil
}

func (b boltListTx) SetStrikes(addr string, n int) error {
	if n == 0 {
		if b.strikes.Get([]byte(addr)) == nil {
			return nil
		}
		return b.strikes.Delete([]byte(addr))
	}
	return b.strikes.Put([]byte(addr), binary.AppendUvarint(nil, uint64(n)))
}

const suppressionV1 = 1

func encodeSuppression(s *Suppression) []byte {
	b := []byte{suppressionV1, byte(s.Reason)}
	b = appendTime(b, s.Created)
	b = appendTime(b, s.Expires)
	b = appendString(b, s.Reply)
	return appendString(b, s.MsgID)
}

func decodeSuppression(addr string, v []byte) (Suppression, error) {
	if len(v) < 2 || v[0] != suppressionV1 {
		return Suppression{}, fmt.Errorf("%w: unknown suppression entry version", ErrCorrupt)
	}
	s := Suppression{Addr: addr, Reason: SuppressReason(v[1])}
	d := decoder{b: v[2:]}
	s.Created = d.time()
	s.Expires = d.time()
	s.Reply = d.string()
	s.MsgID = d.string()
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err == nil && (s.Reason < ReasonBounce || s.Reason > ReasonManual) {
		d.fail("unknown suppression reason")
	}
	return s, d.err
}
