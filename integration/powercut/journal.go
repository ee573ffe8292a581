package powercut

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// journal records every change to the backing directory that is not yet
// durable, and rewrites the directory to a post-power-loss state at a cut.
// It is not safe for concurrent use: FS serialises every call.
type journal struct {
	backing string // the backing directory
	stash   string // hard links keeping unlinked (and created) files alive
	seq     uint64 // orders every recorded change and every fsync

	files   map[uint64]*fileLog // by backing inode: changes since the last fsync
	names   []*nameOp           // every namespace change since the mount
	dirSync map[uint64]uint64   // directory inode → seq of its last fsync
	stashed map[uint64]string   // file inode → its link in stash
}

// fileLog is one file's changes since its last fsync.
type fileLog struct {
	name  string // its path when first changed, for reports
	since uint64 // seq when first changed
	fd    int    // read-write descriptor on the inode, whatever its names
	ops   []dataOp
}

// dataOp is a write (data != nil) or a truncate, with what it replaced.
type dataOp struct {
	seq     uint64
	off     int64  // first byte changed
	old     []byte // bytes at [off, off+len(old)) before the op
	oldSize int64
	data    []byte // a write's bytes
	newSize int64  // a truncate's size
}

func (op dataOp) isWrite() bool { return op.data != nil }

// nameOp is one namespace change: a create, unlink, mkdir, rmdir or rename,
// durable once every directory in dirs was fsynced after it.
type nameOp struct {
	seq     uint64
	dirs    []uint64
	changes []entry
	// dirRename: a directory moved from changes[0].path to changes[1].path;
	// undone and redone with rename(2), since a directory cannot be linked.
	dirRename bool
}

// entry is one name's change: what path pointed to before and after.
type entry struct {
	path     string // relative to the backing directory
	old, new ref
}

// ref is what a name points to.
type ref struct {
	kind  refKind
	stash string      // refFile: a link to the inode in the stash
	mode  fs.FileMode // refDir: permissions to recreate it with
}

type refKind int

const (
	refNone refKind = iota
	refFile
	refDir
)

func newJournal(backing, stash string) *journal {
	return &journal{
		backing: backing,
		stash:   stash,
		files:   map[uint64]*fileLog{},
		dirSync: map[uint64]uint64{},
		stashed: map[uint64]string{},
	}
}

func (j *journal) next() uint64 { j.seq++; return j.seq }

func (j *journal) abs(rel string) string { return filepath.Join(j.backing, rel) }

// fileFor returns the log of the file open as fd, opening a read-write
// descriptor of its own (through /proc, so it reaches the inode whatever
// its name and whatever fd's access mode).
func (j *journal) fileFor(name string, fd int) (*fileLog, int64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, 0, err
	}
	if fl, ok := j.files[st.Ino]; ok {
		return fl, st.Size, nil
	}
	own, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fd), unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("powercut: reopen inode %d: %w", st.Ino, err)
	}
	fl := &fileLog{name: name, since: j.seq, fd: own}
	j.files[st.Ino] = fl
	return fl, st.Size, nil
}

// readAt returns the file's bytes in [off, off+n), cut at its size.
func readAt(fd int, off int64, n int64, size int64) ([]byte, error) {
	if off >= size {
		return []byte{}, nil
	}
	n = min(n, size-off)
	buf := make([]byte, n)
	for done := int64(0); done < n; {
		m, err := unix.Pread(fd, buf[done:], off+done)
		if err != nil {
			return nil, err
		}
		if m == 0 {
			return buf[:done], nil
		}
		done += int64(m)
	}
	return buf, nil
}

// write records a write of data at off to the file name open as fd, before it
// is made.
func (j *journal) write(name string, fd int, off int64, data []byte) error {
	fl, size, err := j.fileFor(name, fd)
	if err != nil {
		return err
	}
	old, err := readAt(fl.fd, off, int64(len(data)), size)
	if err != nil {
		return err
	}
	fl.ops = append(fl.ops, dataOp{seq: j.next(), off: off, old: old, oldSize: size, data: bytesOrEmpty(data)})
	return nil
}

func bytesOrEmpty(b []byte) []byte {
	c := make([]byte, len(b))
	copy(c, b)
	return c
}

// truncate records a truncate of the file open as fd to size, before it is
// made.
func (j *journal) truncate(name string, fd int, size int64) error {
	fl, cur, err := j.fileFor(name, fd)
	if err != nil {
		return err
	}
	op := dataOp{seq: j.next(), off: size, oldSize: cur, newSize: size, old: []byte{}}
	if size < cur {
		if op.old, err = readAt(fl.fd, size, cur-size, cur); err != nil {
			return err
		}
	}
	fl.ops = append(fl.ops, op)
	return nil
}

// fsyncFile makes the file open as fd durable: its changes are forgotten.
func (j *journal) fsyncFile(fd int) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if fl, ok := j.files[st.Ino]; ok {
		unix.Close(fl.fd)
		delete(j.files, st.Ino)
	}
	j.next()
	return nil
}

// fsyncDir makes the names in the directory at rel durable.
func (j *journal) fsyncDir(rel string) error {
	ino, err := inode(j.abs(rel))
	if err != nil {
		return err
	}
	j.dirSync[ino] = j.next()
	return nil
}

func inode(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// refOf describes what rel points to now, linking a file into the stash so
// it outlives its names until the cut.
func (j *journal) refOf(rel string) (ref, error) {
	var st unix.Stat_t
	if err := unix.Lstat(j.abs(rel), &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return ref{}, nil
		}
		return ref{}, err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return ref{kind: refDir, mode: fs.FileMode(st.Mode & 0o7777)}, nil
	}
	if p, ok := j.stashed[st.Ino]; ok {
		return ref{kind: refFile, stash: p}, nil
	}
	p := filepath.Join(j.stash, strconv.FormatUint(st.Ino, 10))
	if err := os.Link(j.abs(rel), p); err != nil {
		return ref{}, fmt.Errorf("powercut: keep %s: %w", rel, err)
	}
	j.stashed[st.Ino] = p
	return ref{kind: refFile, stash: p}, nil
}

// nameChange runs change, a namespace operation on the names paths (in the
// directories dirs, relative), recording what each name pointed to before
// and after.
func (j *journal) nameChange(dirs []string, paths []string, change func() error) error {
	op := &nameOp{}
	for _, d := range dirs {
		ino, err := inode(j.abs(d))
		if err != nil {
			return err
		}
		op.dirs = append(op.dirs, ino)
	}
	for _, p := range paths {
		r, err := j.refOf(p)
		if err != nil {
			return err
		}
		op.changes = append(op.changes, entry{path: p, old: r})
	}
	if err := change(); err != nil {
		return err
	}
	for i := range op.changes {
		r, err := j.refOf(op.changes[i].path)
		if err != nil {
			return err
		}
		op.changes[i].new = r
	}
	op.dirRename = len(paths) == 2 && op.changes[0].old.kind == refDir && op.changes[1].new.kind == refDir
	op.seq = j.next()
	j.names = append(j.names, op)
	return nil
}

// durable reports whether every directory op touched was fsynced after it.
func (j *journal) durable(op *nameOp) bool {
	for _, d := range op.dirs {
		if j.dirSync[d] <= op.seq {
			return false
		}
	}
	return true
}

// Mode says what a cut keeps of the changes that were not durable.
type Mode int

const (
	// DropAll loses every change not made durable.
	DropAll Mode = iota
	// KeepSome keeps a random half of them (by the FS's seeded source),
	// in any combination: a disk may write back out of order.
	KeepSome
	// TearPage loses them all except one 4 KiB page of the last write that
	// was not durable, which is torn: its first 512-byte sectors hold the
	// new bytes and the rest the old.
	TearPage
)

func (m Mode) String() string {
	switch m {
	case DropAll:
		return "drop-all"
	case KeepSome:
		return "keep-some"
	case TearPage:
		return "tear-page"
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

// Report says what a cut did to the backing directory.
type Report struct {
	Mode         Mode
	WritesLost   int    // writes and truncates undone
	WritesKept   int    // not durable, kept by KeepSome
	NamesLost    int    // namespace changes undone
	NamesKept    int    // not durable, kept by KeepSome
	Torn         string // the file TearPage tore, "" if none
	TornOffset   int64  // the torn page's offset
	TornSectors  int    // of its sectors, how many hold the new bytes (0: part of one)
	TornBytes    int    // new bytes written to the page
	TornWriteLen int    // length of the write it came from
}

func (r Report) String() string {
	s := fmt.Sprintf("%v: %d writes and %d names lost, %d writes and %d names kept",
		r.Mode, r.WritesLost, r.NamesLost, r.WritesKept, r.NamesKept)
	if r.Torn != "" {
		s += fmt.Sprintf("; torn %s page at %d (%d new bytes, %d/8 sectors, of a %d-byte write)",
			r.Torn, r.TornOffset, r.TornBytes, r.TornSectors, r.TornWriteLen)
	}
	return s
}

// cut rewrites the backing directory to what a disk holds after power
// loss, by mode, and releases everything the journal held.
func (j *journal) cut(mode Mode, rng *rand.Rand) (Report, error) {
	rep := Report{Mode: mode}
	keep := func() bool { return mode == KeepSome && rng.IntN(2) == 0 }
	err := j.cutNames(keep, &rep)
	if err == nil {
		err = j.cutData(mode, keep, rng, &rep)
	}
	for _, fl := range j.files {
		unix.Close(fl.fd)
	}
	j.files = map[uint64]*fileLog{}
	j.names = nil
	if rmErr := os.RemoveAll(j.stash); err == nil && rmErr != nil {
		err = rmErr
	}
	return rep, err
}
