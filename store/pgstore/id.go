package pgstore

import (
	"encoding/base32"
	"encoding/binary"
	"sync"
	"time"
)

// Message IDs have store's form (13 lower-case base32hex characters of a
// big-endian uint64 of unix nanoseconds; store.IDTime reads them), so IDs
// sort by arrival as in bbolt. Several nodes make IDs for one database, so
// the low nodeBits bits of each are the node's number (from the
// node_numbers sequence at Open): two nodes never make the same ID, and
// one node's IDs still strictly increase. The cost is a resolution of
// 2^nodeBits ns (1 µs), so a node makes at most a million IDs per second
// before they run ahead of the clock.
const nodeBits = 10

// idGen hands out one node's IDs; safe for concurrent use.
type idGen struct {
	mu   sync.Mutex
	node uint64
	last uint64
	enc  *base32.Encoding
}

func newIDGen(node int64) *idGen {
	return &idGen{
		node: uint64(node) & (1<<nodeBits - 1),
		enc:  base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding),
	}
}

func (g *idGen) next(now time.Time) string {
	n := uint64(max(now.UnixNano(), 0))&^(1<<nodeBits-1) | g.node
	g.mu.Lock()
	if n <= g.last {
		n = g.last + 1<<nodeBits
	}
	g.last = n
	g.mu.Unlock()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return g.enc.EncodeToString(b[:])
}
