package store

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Salvage (`outbox spool salvage`).
//
// bbolt has no salvage API, and a bbolt cursor that panics on a damaged
// page cannot step past it; Salvage therefore reads the damaged spool.db
// with rawFile (rawpages.go), which never panics: it walks each bucket's
// tree from the meta page, skipping a bad page but not its siblings, then
// scans the leaf pages no walk reached (the children of a damaged branch
// page) for records and bodies, leaving out the freelist's pages, which
// hold stale versions. Every record that decodes, with its body (inline,
// found by the scan, or its file) and its prefix, is enqueued under its own
// ID into a new spool opened with Open, so the indexes are built afresh and
// consistent. Quarantined records and the bounce log are copied as they
// are.
//
// What could not be read is reported: the IDs known from any source (an
// index entry, a body, a body file) whose message did not come back, and
// the pages of the message buckets that could not be read.

// SalvageReport is the result of Salvage.
type SalvageReport struct {
	From, To    string
	Recovered   int      // messages copied into the new spool
	Quarantined int      // quarantined records copied as they were
	Bounces     int      // bounce log rows copied
	Events      int      // event log entries copied (salvage_events.go)
	Lost        []string // "ID: why" for each message known but not copied
	// Held lists the messages copied on hold for an operator to review
	// (`outbox queue show`, then release or delete): found on a page the
	// freelist could not vouch for, so possibly a stale copy of a message
	// changed or deleted since.
	Held       []string
	Unreadable []string // pages of the message buckets that could not be read
	Notes      []string // damage that lost nothing (an index page, the freelist)
}

// Complete reports whether everything readable was copied and nothing is
// known to be lost.
func (r *SalvageReport) Complete() bool { return len(r.Lost) == 0 && len(r.Unreadable) == 0 }

// Salvage copies every readable message of the spool in from into a new
// spool in to, which must not hold one yet. The source is never written; a
// daemon must not be running on it (ErrLocked). opts configure the new
// spool.
func Salvage(ctx context.Context, from, to string, opts Options) (*SalvageReport, error) {
	src := filepath.Join(from, "spool.db")
	if _, err := os.Stat(filepath.Join(to, "spool.db")); err == nil {
		return nil, fmt.Errorf("store: salvage: %s already holds a spool; give a new directory", to)
	}
	unlock, err := lockShared(src, cmp.Or(opts.LockTimeout, DefaultLockTimeout))
	if err != nil {
		return nil, err
	}
	defer unlock()
	s := &salvager{rep: &SalvageReport{From: from, To: to}, bodyDir: filepath.Join(from, "bodies"), opts: opts}
	if err := s.read(src); err != nil {
		return nil, err
	}
	dst, err := Open(to, opts)
	if err != nil {
		return nil, err
	}
	if err := s.write(ctx, dst); err != nil {
		dst.Close()
		return s.rep, err
	}
	if err := dst.Close(); err != nil {
		return s.rep, err
	}
	return s.rep, nil
}

// salvager carries what was read from the source.
type salvager struct {
	rep     *SalvageReport
	bodyDir string
	opts    Options

	buckets map[string]map[string][]byte // bucket → key → value, from the tree walks
	loose   map[string][][]byte          // ID → values met on unreached pages that are not records
	// unvouched: records read from pages that may be free (the freelist
	// was unreadable); copied on hold.
	unvouched map[string]bool
	eventSeq  uint64 // the events bucket's sequence (salvage_events.go)
}

// read walks the source file into s.buckets and s.loose.
func (s *salvager) read(path string) error {
	s.buckets, s.loose, s.unvouched = map[string]map[string][]byte{}, map[string][][]byte{}, map[string]bool{}
	for _, name := range salvagedBuckets() {
		s.buckets[name] = map[string][]byte{}
	}
	r, f, err := openRaw(path)
	if err != nil {
		return s.readWithoutMeta(path, err)
	}
	defer f.Close()
	reached := map[uint64]bool{}
	root := binary.LittleEndian.AppendUint64(nil, r.m.root)
	rw := r.walk(append(root, make([]byte, 8)...))
	s.badPages("root", rw, true)
	for p := range rw.pages {
		reached[p] = true
	}
	for _, e := range rw.pairs {
		name := string(e.key)
		if e.bucket {
			s.noteEventSequence(name, e.value)
		}
		if !e.bucket || s.buckets[name] == nil {
			continue
		}
		w := r.walk(e.value)
		s.badPages(name, w, messageBucket(name))
		for p := range w.pages {
			reached[p] = true
		}
		for _, p := range w.pairs {
			s.buckets[name][string(p.key)] = p.value
		}
	}
	s.scan(r, reached)
	return nil
}

// salvagedBuckets are the buckets Salvage reads.
func salvagedBuckets() []string {
	return []string{bucketMsgs, bucketBodies, bucketPrefixes, bucketQuarantine, bucketBounces, bucketDue, bucketFinished, bucketNotices, bucketEvents}
}

// messageBucket: damage there can lose mail; elsewhere it loses nothing
// the new spool does not rebuild.
func messageBucket(name string) bool {
	return name == "root" || name == bucketMsgs || name == bucketBodies || name == bucketPrefixes || name == bucketQuarantine
}

func (s *salvager) badPages(name string, w rawWalk, matters bool) {
	ids := make([]uint64, 0, len(w.bad))
	for id := range w.bad {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		line := fmt.Sprintf("page %d (bucket %s): %v", id, name, w.bad[id])
		if matters {
			s.rep.Unreadable = append(s.rep.Unreadable, line)
		} else {
			s.rep.Notes = append(s.rep.Notes, line)
		}
	}
}

// readWithoutMeta: with both meta pages unreadable there is no tree to
// walk; every leaf page is scanned at the usual page size.
func (s *salvager) readWithoutMeta(path string, cause error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("store: salvage: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("store: salvage: %w", err)
	}
	s.rep.Unreadable = append(s.rep.Unreadable, fmt.Sprintf("meta pages: %v; scanning every page without the freelist: stale copies of records may come back", cause))
	r := &rawFile{f: f, size: fi.Size(), m: meta{pageSize: 4096, pgid: uint64(fi.Size() / 4096), freelist: noFreelist}}
	s.scanPages(r, map[uint64]bool{}, nil)
	return nil
}

// scan reads the leaf pages no walk reached and that are not free.
func (s *salvager) scan(r *rawFile, reached map[uint64]bool) {
	freed, err := r.freed()
	if err != nil {
		// Without the freelist an unreached page may be free, holding a
		// stale copy of a record: what is found there is copied on hold.
		s.rep.Notes = append(s.rep.Notes, fmt.Sprintf("freelist: %v; records found only on unreached pages are copied on hold", err))
		freed = nil
	}
	reached[r.m.freelist] = true
	s.scanPages(r, reached, freed)
}

func (s *salvager) scanPages(r *rawFile, reached, freed map[uint64]bool) {
	for id := uint64(2); id < r.m.pgid; id++ {
		if reached[id] || freed[id] {
			continue
		}
		p, err := r.page(id)
		if err != nil || pageFlags(p) != leafPage {
			continue
		}
		id += uint64(len(p)/r.m.pageSize) - 1 // skip its overflow
		pairs, _ := leaf(p)
		s.scanned(pairs, freed == nil)
	}
}

// scanned sorts the pairs of an unreached leaf page: a page of records
// goes to msgs; other values keyed by an ID may be bodies or prefixes.
// Records of a page that may be free (unvouched) are kept apart, the one
// furthest along winning when one ID has several.
func (s *salvager) scanned(pairs []kv, unvouched bool) {
	records := false
	for _, e := range pairs {
		if _, err := DecodeMessage(e.value); err == nil && isID(e.key) && !e.bucket {
			records = true
			break
		}
	}
	for _, e := range pairs {
		switch {
		case e.bucket || !isID(e.key):
		case records:
			id := string(e.key)
			old, ok := s.buckets[bucketMsgs][id]
			if !ok || (s.unvouched[id] && further(e.value, old)) {
				s.buckets[bucketMsgs][id] = e.value
				s.unvouched[id] = unvouched
			}
		default:
			s.loose[string(e.key)] = append(s.loose[string(e.key)], e.value)
		}
	}
}

// further reports whether record a is further along than record b: more
// recipients final, else more attempts made. Undecodable records are
// never further.
func further(a, b []byte) bool {
	ma, err := DecodeMessage(a)
	if err != nil {
		return false
	}
	mb, err := DecodeMessage(b)
	if err != nil {
		return true
	}
	progress := func(m *Message) (final, attempts int) {
		for _, r := range m.Recipients {
			if r.State.Final() {
				final++
			}
			attempts += r.Attempts
		}
		return final, attempts
	}
	fa, aa := progress(ma)
	fb, ab := progress(mb)
	return fa > fb || (fa == fb && aa > ab)
}

// isID reports whether k has the shape of a message ID (id.go).
func isID(k []byte) bool {
	if len(k) != idLen {
		return false
	}
	for _, c := range k {
		if !strings.ContainsRune(idAlphabet, rune(c)) {
			return false
		}
	}
	return true
}
