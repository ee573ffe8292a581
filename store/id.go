package store

import (
	"encoding/base32"
	"encoding/binary"
	"sync"
	"time"
)

// Message IDs are 13 characters of lower-case base32hex encoding a
// big-endian uint64 of unix nanoseconds at NewBody, made strictly increasing
// by the store (a tie or a clock step backwards takes last+1, and the last ID
// on disk seeds the generator at Open). base32hex preserves byte order, so an
// ID's string order is its creation order: bbolt keys sorted by ID are the
// arrival order, which List relies on.
const idLen = 13

const idAlphabet = "0123456789abcdefghijklmnopqrstuv"

func idEncoding() *base32.Encoding {
	return base32.NewEncoding(idAlphabet).WithPadding(base32.NoPadding)
}

// idGen hands out IDs; safe for concurrent use.
type idGen struct {
	mu   sync.Mutex
	last uint64
	enc  *base32.Encoding
}

func (g *idGen) next(now time.Time) string {
	n := uint64(max(now.UnixNano(), 0))
	g.mu.Lock()
	if n <= g.last {
		n = g.last + 1
	}
	g.last = n
	g.mu.Unlock()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return g.enc.EncodeToString(b[:])
}

// seed makes later IDs greater than id (an ID read from disk).
func (g *idGen) seed(id string) {
	if n, ok := g.parse(id); ok {
		g.mu.Lock()
		g.last = max(g.last, n)
		g.mu.Unlock()
	}
}

// parse reports whether s is a well-formed ID and its value.
func (g *idGen) parse(s string) (uint64, bool) {
	if len(s) != idLen {
		return 0, false
	}
	b, err := g.enc.DecodeString(s)
	if err != nil || len(b) != 8 {
		return 0, false
	}
	// Reject non-canonical spellings (the 13th character carries one
	// unused bit), so one value has one name.
	if g.enc.EncodeToString(b) != s {
		return 0, false
	}
	return binary.BigEndian.Uint64(b), true
}

// IDTime is the creation time encoded in a message ID, and false when id is
// not a well-formed ID.
func IDTime(id string) (time.Time, bool) {
	g := idGen{enc: idEncoding()}
	n, ok := g.parse(id)
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(0, int64(n)), true
}
