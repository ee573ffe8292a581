package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// The sanity check of spool.db at Open.
//
// bbolt maps the file and trusts its meta page: when the file is shorter
// than the meta page's high-water mark (truncated by a failed copy, a full
// file system during a restore, a damaged disk), the first read of a page
// past the end faults (SIGBUS) — not an error bbolt can return. Open reads
// the two meta pages itself first and refuses such a file with ErrDamaged,
// naming it, before anything is mapped.
//
// Layout (bbolt's on-disk format, version 2): each of pages 0 and 1 is a
// 16-byte page header (id, flags, count, overflow) followed by the meta:
// magic, version, page size, flags (uint32 each), the root bucket (root
// page, sequence), the freelist page, the high-water mark (pgid: the first
// page never allocated), the transaction ID and an FNV-64a checksum of the
// fields before it, all little-endian on the platforms Outbox supports.

const (
	metaMagic      = 0xED0CDAED
	metaVersion    = 2
	pageHeaderSize = 16
	metaSize       = 64 // the meta's fields, checksum included
	metaSumOffset  = 56 // the checksum covers the bytes before it
	noFreelist     = ^uint64(0)
	maxPageSize    = 64 << 10 // the largest OS page size bbolt would pick
)

// meta is what the store needs of a bbolt meta page.
type meta struct {
	pageSize int
	root     uint64 // page of the root bucket
	freelist uint64 // noFreelist when the freelist is not synced
	pgid     uint64 // high-water mark: pages [0, pgid) are in use or free
	txid     uint64
}

// usedSize is the number of bytes the file must at least have.
func (m meta) usedSize() int64 { return int64(m.pgid) * int64(m.pageSize) }

// parseMeta decodes the meta in page p (its header included).
func parseMeta(p []byte) (meta, error) {
	if len(p) < pageHeaderSize+metaSize {
		return meta{}, errors.New("short meta page")
	}
	b := p[pageHeaderSize : pageHeaderSize+metaSize]
	le := binary.LittleEndian
	h := fnv.New64a()
	h.Write(b[:metaSumOffset])
	switch {
	case le.Uint32(b[0:]) != metaMagic:
		return meta{}, errors.New("not a bbolt meta page (bad magic)")
	case le.Uint32(b[4:]) != metaVersion:
		return meta{}, fmt.Errorf("unknown bbolt file version %d", le.Uint32(b[4:]))
	case le.Uint64(b[metaSumOffset:]) != h.Sum64():
		return meta{}, errors.New("meta page checksum mismatch")
	}
	m := meta{
		pageSize: int(le.Uint32(b[8:])),
		root:     le.Uint64(b[16:]),
		freelist: le.Uint64(b[32:]),
		pgid:     le.Uint64(b[40:]),
		txid:     le.Uint64(b[48:]),
	}
	if m.pageSize < 1024 || m.pageSize > maxPageSize || m.pageSize&(m.pageSize-1) != 0 {
		return meta{}, fmt.Errorf("meta page has an impossible page size %d", m.pageSize)
	}
	if m.pgid < 2 || m.root >= m.pgid || (m.freelist != noFreelist && m.freelist >= m.pgid) {
		return meta{}, fmt.Errorf("meta page is inconsistent (root %d, freelist %d, high-water mark %d)", m.root, m.freelist, m.pgid)
	}
	return m, nil
}

// readMeta returns the meta bbolt would use (the valid one with the higher
// transaction ID) and the file's size. A file that does not exist or is
// empty returns ok false: bbolt initialises it.
func readMeta(path string) (m meta, size int64, ok bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return meta{}, 0, false, nil
	}
	if err != nil {
		return meta{}, 0, false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return meta{}, 0, false, err
	}
	if fi.Size() == 0 {
		return meta{}, 0, false, nil
	}
	head := make([]byte, 2*maxPageSize) // both meta pages at any page size
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return meta{}, fi.Size(), false, err
	}
	head = head[:n]
	m0, err0 := parseMeta(head)
	// Page 1 sits one page further: at meta 0's page size when it is
	// valid, else at the usual 4 KiB (bbolt makes the same guess).
	off := 4096
	if err0 == nil {
		off = m0.pageSize
	}
	var m1 meta
	err1 := errors.New("meta page 1 is past the end of the file")
	if off < len(head) {
		m1, err1 = parseMeta(head[off:])
	}
	switch {
	case err0 != nil && err1 != nil:
		return meta{}, fi.Size(), false, fmt.Errorf("both meta pages are invalid: %v; %v", err0, err1)
	case err1 != nil || (err0 == nil && m0.txid >= m1.txid):
		return m0, fi.Size(), true, nil
	default:
		return m1, fi.Size(), true, nil
	}
}
