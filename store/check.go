package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The offline consistency check (`outbox spool check`, as Postfix's
// `postsuper -s`).
//
// It opens spool.db read-only under a shared lock, so it refuses to run
// while a daemon holds the spool, and reads everything: every record is
// decoded, every body found (inline, or a file of the right size), every
// index entry matched with its record and every record with its entries.
// Then bbolt's own Tx.Check verifies the pages (reachability, the freelist,
// key order). Each step runs under the damage guard (damage.go): a panic or
// a fault is one more problem and the check goes on with the next step.
// bbolt's check runs in a goroutine of its own that no guard can cover, so
// it runs only once the guarded walk has read every page without a fault.

// CheckReport is the result of Check.
type CheckReport struct {
	Path        string   // the spool file checked
	Messages    int      // records read
	Quarantined int      // quarantined records (not a problem: the daemon set them aside)
	BodyFiles   int      // file bodies found for records
	Orphans     []string // body files without a record: swept at the next start, not a problem
	Problems    []string // what is wrong; empty when the spool is clean
}

// Clean reports whether no problem was found.
func (r *CheckReport) Clean() bool { return len(r.Problems) == 0 }

func (r *CheckReport) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// Check verifies the spool in dir without changing it. Damage is reported
// in the CheckReport; the error is for a spool that could not be checked
// at all: none in dir, ErrLocked while a daemon runs on it (lockTimeout
// bounds the wait; 0 means DefaultLockTimeout), an unreadable directory.
func Check(dir string, lockTimeout time.Duration) (*CheckReport, error) {
	if lockTimeout <= 0 {
		lockTimeout = DefaultLockTimeout
	}
	path := filepath.Join(dir, "spool.db")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("store: no spool in %s: %w", dir, err)
	}
	r := &CheckReport{Path: path}
	c := &checker{r: r, bodyDir: filepath.Join(dir, "bodies"), ids: map[string]bool{}}
	bdb, err := openBolt(path, lockTimeout, true)
	if errors.Is(err, ErrDamaged) {
		r.problem("%v", err)
		return r, nil
	}
	if err != nil {
		return nil, err
	}
	defer guardFile(path, bdb.Close)

	walked := true
	step := func(what string, fn func(tx *bolt.Tx) error) bool {
		err := guardFile(path, func() error { return bdb.View(fn) })
		if err != nil {
			walked = false
			r.problem("%s: %v", what, err)
		}
		return err == nil
	}
	step("quarantine", c.quarantine)
	// The cross-checks need every record: after a partial read they
	// would only list what the damage hid.
	if step("records", c.records) {
		step("indexes", c.indexes)
		step("bodies", c.bodies)
	}
	if err := c.files(); err != nil {
		return nil, err
	}
	if !walked {
		r.problem("bbolt's page check skipped: the file could not be read through")
		return r, nil
	}
	step("bbolt page check", func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			r.problem("bbolt: %v", err)
		}
		return nil
	})
	return r, nil
}

// checker carries what one Check learns from step to step.
type checker struct {
	r       *CheckReport
	bodyDir string
	ids     map[string]bool            // live and quarantined records
	due     map[string]map[string]bool // index keys the records call for, by lane bucket
	fin     map[string]bool
	arrival map[string]bool
	notice  map[string]bool
}

// records decodes every record and checks its body and prefix.
func (c *checker) records(tx *bolt.Tx) error {
	c.fin, c.arrival, c.notice = map[string]bool{}, map[string]bool{}, map[string]bool{}
	c.due = map[string]map[string]bool{}
	for _, name := range dueBuckets {
		c.due[name] = map[string]bool{}
	}
	msgs, bodies, prefixes := need(tx, bucketMsgs), need(tx, bucketBodies), need(tx, bucketPrefixes)
	return msgs.ForEach(func(k, v []byte) error {
		id := string(k)
		c.ids[id] = true
		c.r.Messages++
		m, err := DecodeMessage(v)
		if err != nil {
			c.r.problem("message %s: record does not decode: %v", id, err)
			return nil
		}
		if t, ok := m.NextAttempt(); ok {
			c.due[dueBucket(m.Priority)][string(dueKey(t, id))] = true
		}
		if m.Done() {
			c.fin[string(dueKey(m.Received, id))] = true
		}
		if m.Pending() {
			c.arrival[string(dueKey(m.Received, id))] = true
		}
		if m.DSNPending {
			c.notice[id] = true
		}
		want := m.Size - int64(len(prefixes.Get(k)))
		if body := bodies.Get(k); body != nil {
			if int64(len(body)) != want {
				c.r.problem("message %s: inline body has %d bytes, the record says %d", id, len(body), want)
			}
			return nil
		}
		fi, err := os.Stat(filepath.Join(c.bodyDir, id))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			c.r.problem("message %s: body file %s is missing", id, filepath.Join(c.bodyDir, id))
		case err != nil:
			c.r.problem("message %s: body file: %v", id, err)
		case fi.Size() != want:
			c.r.problem("message %s: body file %s has %d bytes, the record says %d", id, filepath.Join(c.bodyDir, id), fi.Size(), want)
		default:
			c.r.BodyFiles++
		}
		return nil
	})
}

// need returns a bucket the store creates at Open; a missing one panics
// into the guard as the damage it is.
func need(tx *bolt.Tx, name string) *bolt.Bucket {
	b := bucket(tx, name)
	if b == nil {
		panic(fmt.Sprintf("bucket %q is missing", name))
	}
	return b
}

// indexes matches the due, finished, notices and arrival indexes with the
// records.
func (c *checker) indexes(tx *bolt.Tx) error {
	for _, ix := range []struct {
		name string
		want map[string]bool
		key  func(k []byte) string // the ID in an index key
	}{
		{bucketDueHigh, c.due[bucketDueHigh], idOfTimeKey},
		{bucketDue, c.due[bucketDue], idOfTimeKey},
		{bucketDueBulk, c.due[bucketDueBulk], idOfTimeKey},
		{bucketFinished, c.fin, idOfTimeKey},
		{bucketNotices, c.notice, func(k []byte) string { return string(k) }},
		{bucketArrival, c.arrival, idOfTimeKey},
	} {
		if (ix.name == bucketArrival || ix.name == bucketDueHigh || ix.name == bucketDueBulk) && bucket(tx, ix.name) == nil {
			// A spool from before the index or the lanes: Open builds
			// it; the records then call for no entry in a lane's.
			if len(ix.want) > 0 && ix.name != bucketArrival {
				c.r.problem("index %s is missing, with %d messages in its lane", ix.name, len(ix.want))
			}
			continue
		}
		seen := map[string]bool{}
		err := need(tx, ix.name).ForEach(func(k, _ []byte) error {
			seen[string(k)] = true
			if !ix.want[string(k)] {
				c.r.problem("index %s: entry for %s matches no record", ix.name, ix.key(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for k := range ix.want {
			if !seen[k] {
				c.r.problem("index %s: message %s has no entry", ix.name, ix.key([]byte(k)))
			}
		}
	}
	return nil
}

func idOfTimeKey(k []byte) string {
	if len(k) <= 8 {
		return fmt.Sprintf("(malformed key %x)", k)
	}
	return string(k[8:])
}

// quarantine counts the quarantined records.
func (c *checker) quarantine(tx *bolt.Tx) error {
	return need(tx, bucketQuarantine).ForEach(func(k, _ []byte) error {
		c.ids[string(k)] = true
		c.r.Quarantined++
		return nil
	})
}

// bodies finds inline bodies and prefixes without a record.
func (c *checker) bodies(tx *bolt.Tx) error {
	for _, name := range []string{bucketBodies, bucketPrefixes} {
		err := need(tx, name).ForEach(func(k, _ []byte) error {
			if !c.ids[string(k)] {
				c.r.problem("bucket %s: entry for %s matches no record", name, k)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// files lists body files without a record.
func (c *checker) files() error {
	entries, err := os.ReadDir(c.bodyDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: read body directory: %w", err)
	}
	for _, e := range entries {
		if !c.ids[e.Name()] {
			c.r.Orphans = append(c.r.Orphans, e.Name())
		}
	}
	return nil
}
