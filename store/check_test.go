package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheck: a clean spool is clean; each damage is reported as problems,
// never a panic; a missing or short body file and a stale index entry are
// found by the record checks bbolt's own check cannot make.
func TestCheck(t *testing.T) {
	s := seedSpool(t, 300).clone(t)
	r, err := Check(s.dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Clean() || r.Messages != 300 || r.BodyFiles == 0 {
		t.Fatalf("clean spool: %+v", r)
	}

	// A body file gone, another cut short.
	var files []string
	entries, _ := os.ReadDir(filepath.Join(s.dir, "bodies"))
	for _, e := range entries {
		files = append(files, e.Name())
	}
	os.Remove(filepath.Join(s.dir, "bodies", files[0]))
	os.Truncate(filepath.Join(s.dir, "bodies", files[1]), 10)
	r, err = Check(s.dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{files[0] + ": body file", files[1] + ": body file"}
	if len(r.Problems) != 2 || !strings.Contains(r.Problems[0]+r.Problems[1], want[0]) || !strings.Contains(r.Problems[0]+r.Problems[1], "has 10 bytes") {
		t.Errorf("problems = %q; want the missing and the short body file", r.Problems)
	}

	seed := seedSpool(t, 300)
	for _, d := range damages() {
		t.Run(d.name, func(t *testing.T) {
			s := seed.clone(t)
			d.do(t, s.path, readLayout(t, s.path))
			r, err := Check(s.dir, 0)
			if err != nil {
				t.Fatal(err)
			}
			if r.Clean() {
				t.Fatalf("damage not found: %+v", r)
			}
			t.Logf("%d problems, first: %s", len(r.Problems), r.Problems[0])
		})
	}
}

// TestCheckRefusesLockedSpool: while a DB (a daemon) holds the spool,
// Check refuses with ErrLocked instead of reading a file being written.
func TestCheckRefusesLockedSpool(t *testing.T) {
	dir := t.TempDir()
	openTest(t, dir, Options{})
	if _, err := Check(dir, 50e6); !errors.Is(err, ErrLocked) {
		t.Fatalf("Check of an open spool = %v, want ErrLocked", err)
	}
	if _, err := Check(t.TempDir(), 0); err == nil {
		t.Fatal("Check of a directory without a spool succeeded")
	}
}
