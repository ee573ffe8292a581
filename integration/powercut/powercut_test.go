package powercut

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// disk is a backing directory and a power-cut file system mounted over it.
type disk struct {
	t       *testing.T
	backing string
	mnt     string
	fs      *FS
}

// newDisk mounts a power-cut file system over a backing directory holding
// files (name → content, durable). Without FUSE the test is skipped, but
// under CI=true it fails: CI provides /dev/fuse and runs as root.
func newDisk(t *testing.T, files map[string]string) *disk {
	t.Helper()
	d := &disk{t: t, backing: filepath.Join(t.TempDir(), "disk"), mnt: filepath.Join(t.TempDir(), "mnt")}
	for _, p := range []string{d.backing, d.mnt} {
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(d.backing, name)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d.backing, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d.mount(1)
	return d
}

func (d *disk) mount(seed uint64) {
	d.t.Helper()
	fs, err := Mount(d.mnt, d.backing, Options{Seed: seed})
	if err != nil {
		if os.Getenv("CI") != "" {
			d.t.Fatalf("FUSE is required in CI: %v", err)
		}
		d.t.Skipf("cannot mount FUSE: %v", err)
	}
	d.fs = fs
	d.t.Cleanup(func() { fs.Unmount() })
}

func (d *disk) cut(mode Mode) Report {
	d.t.Helper()
	rep, err := d.fs.Cut(mode)
	if err != nil {
		d.t.Fatal(err)
	}
	return rep
}

func (d *disk) path(name string) string { return filepath.Join(d.mnt, name) }

// after is the content of name on the disk after the cut, "<none>" when it
// does not exist.
func (d *disk) after(name string) string {
	d.t.Helper()
	b, err := os.ReadFile(filepath.Join(d.backing, name))
	if errors.Is(err, os.ErrNotExist) {
		return "<none>"
	}
	if err != nil {
		d.t.Fatal(err)
	}
	return string(b)
}

func (d *disk) write(name string, off int64, data string, sync bool) {
	d.t.Helper()
	f, err := os.OpenFile(d.path(name), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		d.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte(data), off); err != nil {
		d.t.Fatal(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			d.t.Fatal(err)
		}
	}
}

func (d *disk) syncDir(name string) {
	d.t.Helper()
	f, err := os.Open(d.path(name))
	if err != nil {
		d.t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		d.t.Fatal(err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// dropCase is a file system history and what a DropAll cut leaves of it.
type dropCase struct {
	name  string
	files map[string]string // the files before, fsynced
	do    func(d *disk)
	want  map[string]string // path: content after the cut, "<none>": absent
}

// TestDropAllData: a cut keeps file contents as of their last fsync.
func TestDropAllData(t *testing.T) {
	runDropAll(t, []dropCase{{
		name:  "write without fsync is lost",
		files: map[string]string{"f": "old content"},
		do:    func(d *disk) { d.write("f", 0, "NEW", false); d.write("f", 11, " and more", false) },
		want:  map[string]string{"f": "old content"},
	}, {
		name:  "write with fsync stays, a later one is lost",
		files: map[string]string{"f": "old content"},
		do:    func(d *disk) { d.write("f", 0, "NEW", true); d.write("f", 4, "LOST", false) },
		want:  map[string]string{"f": "NEW content"},
	}, {
		name:  "fdatasync makes data durable",
		files: map[string]string{"f": "old"},
		do: func(d *disk) {
			f, err := os.OpenFile(d.path("f"), os.O_WRONLY, 0)
			must(d.t, err)
			defer f.Close()
			_, err = f.WriteAt([]byte("grown file"), 0)
			must(d.t, err)
			must(d.t, unix.Fdatasync(int(f.Fd())))
		},
		want: map[string]string{"f": "grown file"},
	}, {
		name:  "truncate without fsync is lost",
		files: map[string]string{"f": "0123456789"},
		do:    func(d *disk) { must(d.t, os.Truncate(d.path("f"), 3)) },
		want:  map[string]string{"f": "0123456789"},
	}, {
		name:  "O_TRUNC without fsync is lost",
		files: map[string]string{"f": "0123456789"},
		do:    func(d *disk) { must(d.t, os.WriteFile(d.path("f"), []byte("x"), 0o600)) },
		want:  map[string]string{"f": "0123456789"},
	}})
}

// TestDropAllNames: a cut keeps a directory's entries as of its last fsync.
func TestDropAllNames(t *testing.T) {
	runDropAll(t, []dropCase{{
		name: "created and fsynced file, directory not synced, is gone",
		do:   func(d *disk) { d.write("new", 0, "data", true) },
		want: map[string]string{"new": "<none>"},
	}, {
		name: "created file with directory synced stays",
		do:   func(d *disk) { d.write("new", 0, "data", true); d.syncDir(".") },
		want: map[string]string{"new": "data"},
	}, {
		name: "directory synced but not the file: the name stays, empty",
		do:   func(d *disk) { d.write("new", 0, "data", false); d.syncDir(".") },
		want: map[string]string{"new": ""},
	}, {
		name:  "unlink without directory sync comes back",
		files: map[string]string{"f": "keep me"},
		do:    func(d *disk) { must(d.t, os.Remove(d.path("f"))) },
		want:  map[string]string{"f": "keep me"},
	}, {
		name:  "unlink with directory sync is durable",
		files: map[string]string{"f": "keep me"},
		do:    func(d *disk) { must(d.t, os.Remove(d.path("f"))); d.syncDir(".") },
		want:  map[string]string{"f": "<none>"},
	}, {
		name:  "rename without directory sync is undone",
		files: map[string]string{"a": "A", "b": "B"},
		do:    func(d *disk) { must(d.t, os.Rename(d.path("a"), d.path("b"))) },
		want:  map[string]string{"a": "A", "b": "B"},
	}, {
		name:  "rename with directory sync is durable",
		files: map[string]string{"a": "A", "b": "B"},
		do:    func(d *disk) { must(d.t, os.Rename(d.path("a"), d.path("b"))); d.syncDir(".") },
		want:  map[string]string{"a": "<none>", "b": "A"},
	}, {
		name:  "rename across directories needs both synced",
		files: map[string]string{"d1/a": "A", "d2/keep": ""},
		do: func(d *disk) {
			must(d.t, os.Rename(d.path("d1/a"), d.path("d2/a")))
			d.syncDir("d2")
		},
		want: map[string]string{"d1/a": "A", "d2/a": "<none>"},
	}, {
		name:  "rename across directories, both synced",
		files: map[string]string{"d1/a": "A", "d2/keep": ""},
		do: func(d *disk) {
			must(d.t, os.Rename(d.path("d1/a"), d.path("d2/a")))
			d.syncDir("d2")
			d.syncDir("d1")
		},
		want: map[string]string{"d1/a": "<none>", "d2/a": "A"},
	}, {
		name: "file in a new directory whose parent was not synced is gone",
		do: func(d *disk) {
			must(d.t, os.Mkdir(d.path("sub"), 0o700))
			d.write("sub/f", 0, "data", true)
			d.syncDir("sub")
		},
		want: map[string]string{"sub/f": "<none>", "sub": "<none>"},
	}, {
		name: "file in a new directory, every level synced, stays",
		do: func(d *disk) {
			must(d.t, os.Mkdir(d.path("sub"), 0o700))
			d.write("sub/f", 0, "data", true)
			d.syncDir("sub")
			d.syncDir(".")
		},
		want: map[string]string{"sub/f": "data"},
	}, {
		name:  "write to an unlinked file whose unlink is lost: durable part only",
		files: map[string]string{"f": "old"},
		do: func(d *disk) {
			f, err := os.OpenFile(d.path("f"), os.O_RDWR, 0)
			must(d.t, err)
			defer f.Close()
			must(d.t, os.Remove(d.path("f")))
			_, err = f.WriteAt([]byte("NEW"), 0)
			must(d.t, err)
		},
		want: map[string]string{"f": "old"},
	}})
}

// runDropAll changes a disk through the mount by each case; after a cut
// that drops everything not durable the backing files are as listed.
func runDropAll(t *testing.T, cases []dropCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := newDisk(t, tc.files)
			tc.do(d)
			d.cut(DropAll)
			for name, want := range tc.want {
				if name == "sub" {
					if _, err := os.Stat(filepath.Join(d.backing, name)); !errors.Is(err, os.ErrNotExist) {
						t.Errorf("directory %s exists after the cut (err %v)", name, err)
					}
					continue
				}
				if got := d.after(name); got != want {
					t.Errorf("%s after the cut = %q, want %q", name, got, want)
				}
			}
		})
	}
}

// TestKeepSome: of 64 unsynced page writes, a cut keeping some keeps whole
// writes, some but not all, the same ones for the same seed.
func TestKeepSome(t *testing.T) {
	const pages = 64
	old := strings.Repeat("o", pages*pageSize)
	kept := func(seed uint64) string {
		d := newDisk(t, map[string]string{"f": old})
		d.fs.Unmount()
		d.mount(seed)
		for i := range pages {
			d.write("f", int64(i*pageSize), strings.Repeat("n", pageSize), false)
		}
		rep := d.cut(KeepSome)
		got := d.after("f")
		var pattern []byte
		for i := range pages {
			switch page := got[i*pageSize : (i+1)*pageSize]; page {
			case strings.Repeat("n", pageSize):
				pattern = append(pattern, 'n')
			case strings.Repeat("o", pageSize):
				pattern = append(pattern, 'o')
			default:
				t.Fatalf("page %d mixes old and new bytes", i)
			}
		}
		n := bytes.Count(pattern, []byte("n"))
		if n == 0 || n == pages || n != rep.WritesKept {
			t.Errorf("kept %d of %d writes (report: %v), want some but not all", n, pages, rep)
		}
		return string(pattern)
	}
	a, b := kept(7), kept(7)
	if a != b {
		t.Errorf("same seed, different disks:\n%s\n%s", a, b)
	}
}

// TestTearPage: of an unsynced 8 KiB write over durable bytes, exactly one
// page gets its first sectors (1 to 7) new; everything else is old.
func TestTearPage(t *testing.T) {
	d := newDisk(t, map[string]string{"f": strings.Repeat("o", 3*pageSize)})
	d.write("f", pageSize, strings.Repeat("n", 2*pageSize), false)
	rep := d.cut(TearPage)
	got := d.after("f")
	if len(got) != 3*pageSize {
		t.Fatalf("size %d after the cut, want %d", len(got), 3*pageSize)
	}
	k := rep.TornSectors
	if k < 1 || k > 7 || rep.Torn != "f" || (rep.TornOffset != pageSize && rep.TornOffset != 2*pageSize) {
		t.Fatalf("report %v: want one page of f torn at 1-7 sectors", rep)
	}
	want := []byte(strings.Repeat("o", 3*pageSize))
	copy(want[rep.TornOffset:], strings.Repeat("n", k*sectorSize))
	if got != string(want) {
		t.Errorf("disk after the tear differs from %v", rep)
	}
}

// TestArm: the change the predicate matches, and every later one, fail
// with EIO and never reach the disk; earlier durable ones stay.
func TestArm(t *testing.T) {
	d := newDisk(t, map[string]string{"spool.db": "old"})
	fired := d.fs.Arm(func(ev Event) bool { return ev.Op == OpWrite && ev.Path == "spool.db" })
	d.write("other", 0, "durable", true)
	d.syncDir(".")
	f, err := os.OpenFile(d.path("spool.db"), os.O_WRONLY, 0)
	must(t, err)
	defer f.Close()
	if _, err := f.WriteAt([]byte("new"), 0); !errors.Is(err, syscall.EIO) {
		t.Fatalf("armed write: %v, want EIO", err)
	}
	if ev := <-fired; ev.Path != "spool.db" || ev.Op != OpWrite {
		t.Errorf("fired on %+v", ev)
	}
	if err := os.WriteFile(d.path("later"), nil, 0o600); !errors.Is(err, syscall.EIO) {
		t.Errorf("create after the freeze: %v, want EIO", err)
	}
	f.Close()
	d.cut(DropAll)
	for name, want := range map[string]string{"spool.db": "old", "other": "durable", "later": "<none>"} {
		if got := d.after(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

// TestMmapAndRemount: a shared read-only mapping (bbolt's) sees writes
// made through the mount; after a cut a fresh mount serves the durable
// bytes, not the kernel's cached pages of the old mount. The mapping is
// read in a child process: a page fault on a FUSE file served by the same
// process can deadlock it (the faulting thread cannot stop for the garbage
// collector, which stops the goroutines that would serve the fault).
func TestMmapAndRemount(t *testing.T) {
	d := newDisk(t, map[string]string{"db": strings.Repeat("o", pageSize)})
	d.write("db", 0, "new", false)
	if got := mmapRead(t, d.path("db")); got != "new" {
		t.Errorf("mapping shows %q after a write, want new", got)
	}
	d.cut(DropAll)
	d.mount(1)
	if got := mmapRead(t, d.path("db")); got != "ooo" {
		t.Errorf("after the cut and a remount the mapping shows %q, want ooo", got)
	}
}

// mmapRead returns the first 3 bytes of path as a child process sees them
// through a shared read-only mapping (TestMmapHelper).
func mmapRead(t *testing.T, path string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestMmapHelper$")
	cmd.Env = append(os.Environ(), "POWERCUT_MMAP="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mmap helper: %v\n%s", err, out)
	}
	got, _, _ := strings.Cut(string(out), "\n")
	return got
}

// TestMmapHelper is mmapRead's child: it prints the first 3 bytes of
// $POWERCUT_MMAP read through a mapping.
func TestMmapHelper(t *testing.T) {
	path := os.Getenv("POWERCUT_MMAP")
	if path == "" {
		t.Skip("helper process for TestMmapAndRemount")
	}
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	m, err := unix.Mmap(int(f.Fd()), 0, pageSize, unix.PROT_READ, unix.MAP_SHARED)
	must(t, err)
	fmt.Printf("%s\n", m[:3])
	must(t, unix.Munmap(m))
}

// TestKeepSomeNames: of 32 files created (and fsynced) in a directory that
// was never synced, a cut keeping some keeps some names but not all, each
// kept one with its content.
func TestKeepSomeNames(t *testing.T) {
	d := newDisk(t, nil)
	const n = 32
	for i := range n {
		d.write(fmt.Sprintf("f%d", i), 0, fmt.Sprintf("content %d", i), true)
	}
	rep := d.cut(KeepSome)
	kept := 0
	for i := range n {
		switch got := d.after(fmt.Sprintf("f%d", i)); got {
		case "<none>":
		case fmt.Sprintf("content %d", i):
			kept++
		default:
			t.Errorf("f%d = %q after the cut", i, got)
		}
	}
	if kept == 0 || kept == n || kept != rep.NamesKept {
		t.Errorf("kept %d of %d names (report: %v), want some but not all", kept, n, rep)
	}
}
