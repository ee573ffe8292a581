package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A spool damaged the ways disks and operators damage it: flipped bytes in
// live pages (a leaf and a branch page of the records, the freelist, the
// root bucket) and a file truncated to 90 % and 50 % of its size.

// seeded is a spool written by seedSpool, closed.
type seeded struct {
	dir    string
	path   string
	bodies map[string][]byte // ID → prefix + body
	msgs   map[string]*Message
}

// seedSpool enqueues n messages: bodies inline and in files, some signed
// (with a prefix), some delivered, some held.
func seedSpool(t *testing.T, n int) *seeded {
	t.Helper()
	s := &seeded{dir: t.TempDir(), bodies: map[string][]byte{}, msgs: map[string]*Message{}}
	s.path = filepath.Join(s.dir, "spool.db")
	db := openTest(t, s.dir, Options{InlineMax: 2048})
	ctx := context.Background()
	for i := range n {
		m := &Message{From: fmt.Sprintf("s%d@example.org", i), Recipients: rcpts(fmt.Sprintf("r%d@example.com", i), "x@example.net")}
		if i%5 == 0 {
			m.Prefix = []byte(fmt.Sprintf("DKIM-Signature: v=1; s=sel; b=%d\r\n", i))
			m.Signed = []string{"example.org/sel (ed25519-sha256)"}
		}
		body := pattern(300+(i*997)%5000, byte(i))
		id := enqueue(t, db, m, body)
		switch i % 7 {
		case 3:
			db.Update(ctx, id, func(m *Message) error {
				m.Recipients[0].State, m.Recipients[1].State = StateDelivered, StateDelivered
				return nil
			})
		case 5:
			db.Update(ctx, id, func(m *Message) error { m.Recipients[1].State = StateHeld; return nil })
		}
		got, err := db.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		s.msgs[id] = got
		s.bodies[id] = append(append([]byte(nil), m.Prefix...), body...)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return s
}

// clone copies the spool into a new directory, so each damage case starts
// from the same spool without writing it again.
func (s *seeded) clone(t *testing.T) *seeded {
	t.Helper()
	c := *s
	c.dir = t.TempDir()
	c.path = filepath.Join(c.dir, "spool.db")
	err := filepath.WalkDir(s.dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.dir, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(c.dir, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(c.dir, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return &c
}

// layout maps each bucket to its pages and each message to the pages its
// record, inline body and prefix are on (overflow pages included).
type layout struct {
	m        meta
	freelist uint64
	root     uint64
	leaves   map[string][]uint64 // bucket → leaf pages
	branches map[string][]uint64 // bucket → branch pages
	msgPages map[string][]uint64 // ID → pages
	lastPage uint64
}

func readLayout(t *testing.T, path string) *layout {
	t.Helper()
	r, f, err := openRaw(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l := &layout{m: r.m, freelist: r.m.freelist, root: r.m.root,
		leaves: map[string][]uint64{}, branches: map[string][]uint64{}, msgPages: map[string][]uint64{}}
	rw := r.walk(append(leUint64(r.m.root), make([]byte, 8)...))
	for _, e := range rw.pairs {
		w := r.walk(e.value)
		if len(w.bad) > 0 {
			t.Fatalf("bucket %s unreadable before any damage: %v", e.key, w.bad)
		}
		for p := range w.pages {
			pg, _ := r.page(p)
			if pg == nil {
				continue // an overflow page
			}
			switch pageFlags(pg) {
			case leafPage:
				l.leaves[string(e.key)] = append(l.leaves[string(e.key)], p)
			case branchPage:
				l.branches[string(e.key)] = append(l.branches[string(e.key)], p)
			}
		}
		switch string(e.key) {
		case bucketMsgs, bucketBodies, bucketPrefixes:
			for _, kv := range w.pairs {
				pg, _ := r.page(kv.page)
				for i := range uint64(len(pg) / r.m.pageSize) {
					l.msgPages[string(kv.key)] = append(l.msgPages[string(kv.key)], kv.page+i)
				}
			}
		}
	}
	for _, ps := range l.leaves {
		slices.Sort(ps)
	}
	return l
}

func leUint64(v uint64) []byte {
	b := make([]byte, 8)
	for i := range 8 {
		b[i] = byte(v >> (8 * i))
	}
	return b
}

// damage is one way to damage spool.db; it returns the pages it destroyed
// (nil: every page from the first one it cut).
type damage struct {
	name string
	do   func(t *testing.T, path string, l *layout) (bad []uint64, cutFrom uint64)
}

func flip(t *testing.T, path string, l *layout, page uint64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	off := int64(page) * int64(l.m.pageSize)
	b := make([]byte, 64) // the page header and the first elements
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] ^= 0xA5
	}
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func truncateTo(t *testing.T, path string, l *layout, frac float64) uint64 {
	t.Helper()
	used := l.m.usedSize()
	size := int64(float64(used) * frac)
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
	return uint64(size) / uint64(l.m.pageSize)
}

func damages() []damage {
	page := func(pick func(l *layout) uint64) func(t *testing.T, path string, l *layout) ([]uint64, uint64) {
		return func(t *testing.T, path string, l *layout) ([]uint64, uint64) {
			p := pick(l)
			flip(t, path, l, p)
			return []uint64{p}, 0
		}
	}
	cut := func(frac float64) func(t *testing.T, path string, l *layout) ([]uint64, uint64) {
		return func(t *testing.T, path string, l *layout) ([]uint64, uint64) {
			return nil, truncateTo(t, path, l, frac)
		}
	}
	return []damage{
		{"flip msgs leaf", page(func(l *layout) uint64 { return l.leaves[bucketMsgs][len(l.leaves[bucketMsgs])/2] })},
		{"flip msgs branch", page(func(l *layout) uint64 { return l.branches[bucketMsgs][0] })},
		{"flip bodies leaf", page(func(l *layout) uint64 { return l.leaves[bucketBodies][0] })},
		{"flip freelist", page(func(l *layout) uint64 { return l.freelist })},
		{"flip root bucket", page(func(l *layout) uint64 { return l.root })},
		{"truncate 90%", cut(0.9)},
		{"truncate 50%", cut(0.5)},
	}
}

// intact lists the messages none of whose pages were destroyed.
func (s *seeded) intact(l *layout, bad []uint64, cutFrom uint64) map[string]bool {
	out := map[string]bool{}
	for id := range s.msgs {
		ok := true
		for _, p := range l.msgPages[id] {
			if slices.Contains(bad, p) || (cutFrom > 0 && p >= cutFrom) {
				ok = false
			}
		}
		out[id] = ok
	}
	return out
}

// TestDamagedSpoolNeverPanics: whatever the damage, Open and every
// operation return errors — ErrDamaged naming the file where the damage is
// met — and never panic or fault.
func TestDamagedSpoolNeverPanics(t *testing.T) {
	ctx := context.Background()
	seed := seedSpool(t, 300)
	for _, d := range damages() {
		t.Run(d.name, func(t *testing.T) {
			s := seed.clone(t)
			l := readLayout(t, s.path)
			d.do(t, s.path, l)
			db, err := Open(s.dir, Options{Logger: quietLogger()})
			if err != nil {
				if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), s.path) {
					t.Fatalf("Open = %v; want ErrDamaged naming %s", err, s.path)
				}
				t.Logf("Open: %v", err)
				return
			}
			defer db.Close()
			var damaged error
			note := func(err error) {
				if errors.Is(err, ErrDamaged) && damaged == nil {
					damaged = err
				}
			}
			_, err = db.Stats(ctx)
			note(err)
			_, err = db.List(ctx, Filter{Done: true, Limit: MaxListLimit})
			note(err)
			_, err = db.Due(ctx, t0.Add(1e15), 0, nil)
			note(err)
			for id := range s.msgs {
				_, err := db.Get(ctx, id)
				note(err)
				if rc, err := db.OpenBody(ctx, id); err == nil {
					rc.Close()
				} else {
					note(err)
				}
				note(db.Update(ctx, id, func(m *Message) error { m.DelayWarned = true; return nil }))
			}
			if damaged == nil {
				t.Skip("this damage went unnoticed by every operation")
			}
			t.Logf("first damage met: %v", damaged)
			select {
			case <-db.Failed():
			default:
				t.Fatal("Damaged not closed after an ErrDamaged")
			}
			if !strings.Contains(damaged.Error(), s.path) {
				t.Errorf("error %q does not name %s", damaged, s.path)
			}
			if _, err := db.Get(ctx, "x"); !errors.Is(err, ErrDamaged) {
				t.Errorf("Get after damage = %v, want ErrDamaged", err)
			}
		})
	}
}

// TestDamageWhileOpen: a file damaged under a running DB — bytes changed
// in a page of records, or the file cut short under the mapping (SIGBUS) —
// makes operations fail with ErrDamaged instead of crashing the process,
// and every later operation fails the same way.
func TestDamageWhileOpen(t *testing.T) {
	ctx := context.Background()
	seed := seedSpool(t, 300)
	for _, tc := range []struct {
		name string
		do   func(t *testing.T, path string, l *layout)
	}{
		{"flip msgs leaf", func(t *testing.T, path string, l *layout) { flip(t, path, l, l.leaves[bucketMsgs][1]) }},
		{"truncate", func(t *testing.T, path string, l *layout) {
			if err := os.Truncate(path, int64(l.m.pageSize)*4); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := seed.clone(t)
			l := readLayout(t, s.path)
			db := openTest(t, s.dir, Options{})
			tc.do(t, s.path, l)
			_, err := db.List(ctx, Filter{Done: true, Limit: MaxListLimit})
			if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), s.path) {
				t.Fatalf("List on a damaged file = %v, want ErrDamaged naming the file", err)
			}
			t.Logf("List: %v", err)
			<-db.Failed()
			b, _ := db.NewBody()
			b.Write([]byte("x"))
			if err := db.Enqueue(ctx, &Message{Recipients: rcpts("a@b")}, b); !errors.Is(err, ErrDamaged) {
				t.Errorf("Enqueue after damage = %v, want ErrDamaged", err)
			}
			if !errors.Is(db.Err(), ErrDamaged) {
				t.Errorf("Err = %v", db.Err())
			}
		})
	}
}

func equalMessages(a, b *Message) bool {
	return bytes.Equal(EncodeMessage(a), EncodeMessage(b))
}
