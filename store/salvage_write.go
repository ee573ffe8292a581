package store

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// The writing half of Salvage: what was read from the damaged file goes
// into the new spool through Enqueue, so its indexes are built as any
// other message's.

// write enqueues what was read into dst and fills the report.
func (s *salvager) write(ctx context.Context, dst *DB) error {
	if err := s.startEvents(ctx, dst); err != nil {
		return err
	}
	ids := make([]string, 0, len(s.buckets[bucketMsgs]))
	for id := range s.buckets[bucketMsgs] {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	done := map[string]bool{}
	for _, id := range ids {
		done[id] = true
	}
	// Several copies at once, so the new spool's group commit shares its
	// fsyncs among them (one at a time, a large spool takes minutes).
	var (
		mu    sync.Mutex
		fatal error
		wg    sync.WaitGroup
		work  = make(chan string)
	)
	for range salvageWorkers {
		wg.Go(func() {
			for id := range work {
				held, err := s.copyMessage(ctx, dst, id)
				mu.Lock()
				var lost lostError
				switch {
				case errors.As(err, &lost):
					s.rep.Lost = append(s.rep.Lost, fmt.Sprintf("%s: %v", id, err))
				case err != nil:
					fatal = cmp.Or(fatal, err)
				case held:
					s.rep.Held = append(s.rep.Held, id)
					s.rep.Recovered++
				default:
					s.rep.Recovered++
				}
				mu.Unlock()
			}
		})
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	if fatal != nil {
		return fatal
	}
	slices.Sort(s.rep.Lost)
	slices.Sort(s.rep.Held)
	if err := s.copyRaw(ctx, dst, done); err != nil {
		return err
	}
	if err := s.copyEvents(ctx, dst); err != nil {
		return err
	}
	s.listLost(done)
	return nil
}

// salvageWorkers is how many messages Salvage copies at once.
const salvageWorkers = 16

// lostError: a message that cannot be copied (as opposed to a failure of
// the new spool, which stops the salvage).
type lostError struct{ error }

// copyMessage enqueues message id into dst under its own ID, on hold when
// its record came from a page the freelist could not vouch for. It only
// reads s.
func (s *salvager) copyMessage(ctx context.Context, dst *DB, id string) (held bool, err error) {
	m, err := DecodeMessage(s.buckets[bucketMsgs][id])
	if err != nil {
		return false, lostError{fmt.Errorf("record does not decode: %w", err)}
	}
	prefix, body, file, err := s.findBody(id, m)
	if err != nil {
		return false, lostError{err}
	}
	m.Prefix = prefix
	if s.unvouched[id] {
		for i := range m.Recipients {
			if !m.Recipients[i].State.Final() {
				m.Recipients[i].State = StateHeld
			}
		}
	}
	b := &Body{db: dst, id: id}
	if file != nil {
		defer file.Close()
		_, err = io.Copy(b, file)
	} else {
		_, err = b.Write(body)
	}
	if err == nil {
		err = dst.Enqueue(ctx, m, b)
	}
	if err != nil {
		b.Discard()
		return false, fmt.Errorf("store: salvage %s: %w", id, err)
	}
	return s.unvouched[id], nil
}

// findBody returns m's prefix and its body, inline or as an open file,
// whose sizes add up to the record's. The prefix comes from the prefixes
// bucket or, when the walk could not reach it, from a value of an unreached
// page that starts as the listener's prefixes do; the body from the bodies
// bucket, an unreached page, or its file.
func (s *salvager) findBody(id string, m *Message) (prefix, body []byte, file *os.File, err error) {
	prefixes := [][]byte{nil}
	if p, ok := s.buckets[bucketPrefixes][id]; ok {
		prefixes = [][]byte{p}
	} else if len(m.Signed) > 0 {
		for _, v := range s.loose[id] {
			if bytes.HasPrefix(v, []byte("DKIM-Signature:")) {
				prefixes = append(prefixes, v)
			}
		}
	}
	bodies := s.loose[id]
	if b, ok := s.buckets[bucketBodies][id]; ok {
		bodies = [][]byte{b}
	}
	for _, p := range prefixes {
		for _, b := range bodies {
			if int64(len(p)+len(b)) == m.Size {
				return p, b, nil, nil
			}
		}
	}
	path := filepath.Join(s.bodyDir, id)
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("body not found (no inline body of the right size, and %v)", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, nil, err
	}
	for _, p := range prefixes {
		if fi.Size()+int64(len(p)) == m.Size {
			return p, nil, f, nil
		}
	}
	f.Close()
	return nil, nil, nil, fmt.Errorf("body file %s has %d bytes, the record says %d with its prefix", path, fi.Size(), m.Size)
}

// copyRaw copies the quarantined records (with their bodies) and the bounce
// log as they are: neither is decoded by the new spool.
func (s *salvager) copyRaw(ctx context.Context, dst *DB, done map[string]bool) error {
	q := s.buckets[bucketQuarantine]
	for id := range q {
		done[id] = true
		if err := s.copyBodyFile(dst, id); err != nil {
			return err
		}
		s.rep.Quarantined++
	}
	s.rep.Bounces = len(s.buckets[bucketBounces])
	return dst.write(ctx, func(tx *bolt.Tx) error {
		for id, v := range q {
			if err := bucket(tx, bucketQuarantine).Put([]byte(id), v); err != nil {
				return dirty(err)
			}
			for _, name := range []string{bucketBodies, bucketPrefixes} {
				if b, ok := s.buckets[name][id]; ok {
					if err := bucket(tx, name).Put([]byte(id), b); err != nil {
						return dirty(err)
					}
				}
			}
		}
		for k, v := range s.buckets[bucketBounces] {
			if err := bucket(tx, bucketBounces).Put([]byte(k), v); err != nil {
				return dirty(err)
			}
		}
		return nil
	})
}

// copyBodyFile copies a quarantined record's body file, if it has one.
func (s *salvager) copyBodyFile(dst *DB, id string) error {
	in, err := os.Open(filepath.Join(s.bodyDir, id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: salvage: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst.bodyPath(id), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("store: salvage: %w", err)
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return noSpace(fmt.Errorf("store: salvage: copy body of %s: %w", id, err))
	}
	return syncDir(dst.bodyDir)
}

// listLost names every message known from any source (an index entry, an
// inline body or prefix, a body file) that was not copied.
func (s *salvager) listLost(done map[string]bool) {
	lost := map[string]string{}
	note := func(id, where string) {
		if !done[id] && lost[id] == "" {
			lost[id] = where
		}
	}
	for _, name := range []string{bucketDue, bucketFinished} {
		for k := range s.buckets[name] {
			if len(k) > 8 {
				note(k[8:], "its "+name+" index entry")
			}
		}
	}
	for _, name := range []string{bucketNotices, bucketBodies, bucketPrefixes} {
		for k := range s.buckets[name] {
			note(k, "its entry in "+name)
		}
	}
	for k := range s.loose {
		note(k, "a value on an unreached page")
	}
	if entries, err := os.ReadDir(s.bodyDir); err == nil {
		for _, e := range entries {
			note(e.Name(), "its body file")
		}
	}
	ids := make([]string, 0, len(lost))
	for id := range lost {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		s.rep.Lost = append(s.rep.Lost, fmt.Sprintf("%s: record unreadable (known from %s)", id, lost[id]))
	}
}
