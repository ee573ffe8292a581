package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// A reader of spool.db that does not trust it.
//
// Salvage cannot use bbolt to read a damaged file: a bbolt cursor that
// panics on one page cannot step past it to the page's siblings, and a
// page past the end of a truncated file faults. rawFile reads pages with
// ReadAt and checks every offset and length against the page and the
// file, so it never panics, and reports a bad page as an error the walk
// records before it goes on. It reads bbolt's on-disk format (version 2):
//
//	page:          id u64, flags u16, count u16, overflow u32, then elements
//	branch elem:   pos u32, ksize u32, pgid u64   (key at elem + pos)
//	leaf elem:     flags u32, pos u32, ksize u32, vsize u32   (key, then value, at elem + pos)
//	bucket value:  root pgid u64, sequence u64, then an inline page when root is 0
//	freelist page: count page ids (u64), the first one being the count when count is 0xFFFF

const (
	branchPage   = 0x01
	leafPage     = 0x02
	freelistPage = 0x10
	bucketLeaf   = 0x01
	elemSize     = 16
	bucketHeader = 16 // root pgid + sequence
)

// rawFile is spool.db read page by page.
type rawFile struct {
	f    io.ReaderAt
	size int64
	m    meta
}

func openRaw(path string) (*rawFile, *os.File, error) {
	m, size, ok, err := readMeta(path)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, errors.New("empty file")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	return &rawFile{f: f, size: size, m: m}, f, nil
}

// kv is one key/value pair of a leaf page, copied out of it.
type kv struct {
	key, value []byte
	bucket     bool   // the value is a nested bucket
	page       uint64 // the leaf page it was read from; 0 for an inline bucket
}

// page reads page id with its overflow pages.
func (r *rawFile) page(id uint64) ([]byte, error) {
	ps := int64(r.m.pageSize)
	if id >= r.m.pgid {
		return nil, fmt.Errorf("page %d is past the high-water mark %d", id, r.m.pgid)
	}
	off := int64(id) * ps
	if off+ps > r.size {
		return nil, fmt.Errorf("page %d is past the end of the file (%d bytes)", id, r.size)
	}
	head := make([]byte, ps)
	if _, err := r.f.ReadAt(head, off); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	if got := binary.LittleEndian.Uint64(head); got != id {
		return nil, fmt.Errorf("page %d: header says page %d", id, got)
	}
	over := int64(binary.LittleEndian.Uint32(head[12:]))
	if over == 0 {
		return head, nil
	}
	if uint64(over) >= r.m.pgid-id || off+(over+1)*ps > r.size {
		return nil, fmt.Errorf("page %d: %d overflow pages run past the end of the file", id, over)
	}
	p := make([]byte, (over+1)*ps)
	copy(p, head)
	if _, err := r.f.ReadAt(p[ps:], off+ps); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	return p, nil
}

func pageFlags(p []byte) uint16 { return binary.LittleEndian.Uint16(p[8:]) }
func pageCount(p []byte) int    { return int(binary.LittleEndian.Uint16(p[10:])) }

// slice returns p[off:off+n] or an error when it is out of p.
func slice(p []byte, off, n uint64) ([]byte, error) {
	if off > uint64(len(p)) || n > uint64(len(p))-off {
		return nil, fmt.Errorf("element [%d, +%d) is outside its page (%d bytes)", off, n, len(p))
	}
	return p[off : off+n], nil
}

// leaf decodes the elements of leaf page p (which may be an inline
// bucket's page, without overflow).
func leaf(p []byte) ([]kv, error) {
	if len(p) < pageHeaderSize || pageFlags(p) != leafPage {
		return nil, errors.New("not a leaf page")
	}
	n := pageCount(p)
	if pageHeaderSize+n*elemSize > len(p) {
		return nil, fmt.Errorf("%d elements do not fit the page", n)
	}
	out := make([]kv, 0, n)
	le := binary.LittleEndian
	for i := range n {
		e := uint64(pageHeaderSize + i*elemSize)
		flags, pos := le.Uint32(p[e:]), le.Uint32(p[e+4:])
		ksize, vsize := le.Uint32(p[e+8:]), le.Uint32(p[e+12:])
		k, err := slice(p, e+uint64(pos), uint64(ksize))
		if err != nil {
			return out, fmt.Errorf("element %d: key: %w", i, err)
		}
		v, err := slice(p, e+uint64(pos)+uint64(ksize), uint64(vsize))
		if err != nil {
			return out, fmt.Errorf("element %d: value: %w", i, err)
		}
		out = append(out, kv{key: append([]byte(nil), k...), value: append([]byte(nil), v...), bucket: flags&bucketLeaf != 0})
	}
	return out, nil
}

// branch returns the child pages of branch page p.
func branch(p []byte) ([]uint64, error) {
	n := pageCount(p)
	if pageHeaderSize+n*elemSize > len(p) {
		return nil, fmt.Errorf("%d elements do not fit the page", n)
	}
	out := make([]uint64, n)
	for i := range n {
		out[i] = binary.LittleEndian.Uint64(p[pageHeaderSize+i*elemSize+8:])
	}
	return out, nil
}

// freed returns the pages of the freelist: they hold stale versions of
// records, which must never be salvaged.
func (r *rawFile) freed() (map[uint64]bool, error) {
	out := map[uint64]bool{}
	if r.m.freelist == noFreelist {
		return out, errors.New("the freelist is not in the file")
	}
	p, err := r.page(r.m.freelist)
	if err != nil {
		return out, err
	}
	if pageFlags(p) != freelistPage {
		return out, fmt.Errorf("page %d is not a freelist page", r.m.freelist)
	}
	n, start := pageCount(p), pageHeaderSize
	if n == 0xFFFF {
		if len(p) < pageHeaderSize+8 {
			return out, errors.New("freelist page is short")
		}
		n, start = int(binary.LittleEndian.Uint64(p[pageHeaderSize:])), pageHeaderSize+8
	}
	if n < 0 || start+n*8 > len(p) {
		return out, fmt.Errorf("freelist of %d pages does not fit its page", n)
	}
	for i := range n {
		out[binary.LittleEndian.Uint64(p[start+i*8:])] = true
	}
	return out, nil
}

// rawWalk is the result of walking one bucket's tree.
type rawWalk struct {
	pairs []kv             // from every readable leaf
	pages map[uint64]bool  // every page reached, readable or not
	bad   map[uint64]error // pages that could not be read, with why
}

// walk reads the tree rooted at page root (a bucket's root, or the inline
// page in value when root is 0), depth first, skipping bad pages but not
// their siblings.
func (r *rawFile) walk(value []byte) rawWalk {
	w := rawWalk{pages: map[uint64]bool{}, bad: map[uint64]error{}}
	if len(value) < bucketHeader {
		w.bad[0] = errors.New("bucket header is short")
		return w
	}
	root := binary.LittleEndian.Uint64(value)
	if root == 0 {
		pairs, err := leaf(value[bucketHeader:])
		w.pairs = pairs
		if err != nil {
			w.bad[0] = fmt.Errorf("inline bucket: %w", err)
		}
		return w
	}
	r.walkPage(root, &w, 0)
	return w
}

func (r *rawFile) walkPage(id uint64, w *rawWalk, depth int) {
	switch {
	case w.pages[id]:
		w.bad[id] = errors.New("page is reached twice (a loop in the tree)")
		return
	case depth > 64:
		w.bad[id] = errors.New("the tree is deeper than any bbolt writes")
		return
	}
	w.pages[id] = true
	p, err := r.page(id)
	if err != nil {
		w.bad[id] = err
		return
	}
	for i := uint64(1); i < uint64(len(p)/r.m.pageSize); i++ {
		w.pages[id+i] = true // overflow
	}
	switch pageFlags(p) {
	case leafPage:
		pairs, err := leaf(p)
		for i := range pairs {
			pairs[i].page = id
		}
		w.pairs = append(w.pairs, pairs...)
		if err != nil {
			w.bad[id] = err
		}
	case branchPage:
		kids, err := branch(p)
		if err != nil {
			w.bad[id] = err
			return
		}
		for _, k := range kids {
			r.walkPage(k, w, depth+1)
		}
	default:
		w.bad[id] = fmt.Errorf("page %d has type %#x, not a branch or leaf page", id, pageFlags(p))
	}
}
