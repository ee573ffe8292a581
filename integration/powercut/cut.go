package powercut

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// cutNames rewinds every namespace change since the mount (in reverse
// order, back to the directory as mounted) and replays the durable ones and
// those keep chooses, in order. A replay that no longer applies (a file
// created in a directory whose own creation was lost) is lost too.
func (j *journal) cutNames(keep func() bool, rep *Report) error {
	kept := make([]bool, len(j.names))
	for i, op := range j.names {
		switch {
		case j.durable(op):
			kept[i] = true
		case keep():
			kept[i] = true
			rep.NamesKept++
		default:
			rep.NamesLost++
		}
	}
	for i := len(j.names) - 1; i >= 0; i-- {
		if err := j.undoName(j.names[i]); err != nil {
			return err
		}
	}
	for i, op := range j.names {
		if kept[i] && j.redoName(op) != nil {
			rep.NamesLost++
		}
	}
	return nil
}

func (j *journal) undoName(op *nameOp) error {
	if op.dirRename {
		src, dst := op.changes[0], op.changes[1]
		if err := os.Rename(j.abs(dst.path), j.abs(src.path)); err != nil {
			return fmt.Errorf("powercut: undo rename: %w", err)
		}
		return j.set(dst.path, dst.old)
	}
	for i := len(op.changes) - 1; i >= 0; i-- {
		if err := j.set(op.changes[i].path, op.changes[i].old); err != nil {
			return fmt.Errorf("powercut: undo: %w", err)
		}
	}
	return nil
}

func (j *journal) redoName(op *nameOp) error {
	if op.dirRename {
		src, dst := op.changes[0], op.changes[1]
		if err := j.set(dst.path, ref{}); err != nil {
			return err
		}
		return os.Rename(j.abs(src.path), j.abs(dst.path))
	}
	for _, c := range op.changes {
		if err := j.set(c.path, c.new); err != nil {
			return err
		}
	}
	return nil
}

// set makes rel point to r, removing whatever it pointed to.
func (j *journal) set(rel string, r ref) error {
	p := j.abs(rel)
	var st unix.Stat_t
	switch err := unix.Lstat(p, &st); {
	case errors.Is(err, unix.ENOENT):
	case err != nil:
		return err
	case st.Mode&unix.S_IFMT == unix.S_IFDIR:
		if err := unix.Rmdir(p); err != nil {
			return fmt.Errorf("rmdir %s: %w", rel, err)
		}
	default:
		if err := unix.Unlink(p); err != nil {
			return fmt.Errorf("unlink %s: %w", rel, err)
		}
	}
	switch r.kind {
	case refFile:
		return os.Link(r.stash, p)
	case refDir:
		return os.Mkdir(p, r.mode)
	}
	return nil
}

// cutData rewinds every file to its content at its last fsync, then
// replays what mode keeps.
func (j *journal) cutData(mode Mode, keep func() bool, rng *rand.Rand, rep *Report) error {
	var last *dataOp
	var lastFile *fileLog
	// In a fixed order, so a seed gives the same choices.
	files := slices.SortedFunc(maps.Values(j.files), func(a, b *fileLog) int {
		return cmp.Or(strings.Compare(a.name, b.name), cmp.Compare(a.since, b.since))
	})
	for _, fl := range files {
		for i := len(fl.ops) - 1; i >= 0; i-- {
			op := fl.ops[i]
			if err := unix.Ftruncate(fl.fd, op.oldSize); err != nil {
				return fmt.Errorf("powercut: undo truncate: %w", err)
			}
			if err := pwriteAll(fl.fd, op.old, op.off); err != nil {
				return fmt.Errorf("powercut: undo write: %w", err)
			}
			if op.isWrite() && len(op.data) > 0 && (last == nil || op.seq > last.seq) {
				last, lastFile = &fl.ops[i], fl
			}
		}
		for _, op := range fl.ops {
			if !keep() {
				rep.WritesLost++
				continue
			}
			rep.WritesKept++
			if err := redoData(fl.fd, op); err != nil {
				return err
			}
		}
	}
	if mode == TearPage && last != nil {
		return tear(lastFile, *last, rng, rep)
	}
	return nil
}

func redoData(fd int, op dataOp) error {
	if op.isWrite() {
		return pwriteAll(fd, op.data, op.off)
	}
	return unix.Ftruncate(fd, op.newSize)
}

const (
	pageSize   = 4096
	sectorSize = 512
)

// tear writes part of one 4 KiB page of w: its first sectors only, as a
// disk that lost power in the middle of writing the page.
func tear(fl *fileLog, w dataOp, rng *rand.Rand, rep *Report) error {
	end := w.off + int64(len(w.data))
	first, last := w.off&^(pageSize-1), (end-1)&^(pageSize-1)
	page := first + pageSize*rng.Int64N((last-first)/pageSize+1)
	a, b := max(w.off, page), min(end, page+pageSize)
	sectors := int((b - a + sectorSize - 1) / sectorSize)
	newEnd := a + (b-a)/2 // one sector or less: half of it
	k := 0
	if sectors > 1 {
		k = 1 + rng.IntN(sectors-1)
		newEnd = min(b, a+int64(k)*sectorSize)
	}
	rep.TornOffset, rep.TornSectors, rep.TornBytes, rep.TornWriteLen = page, k, int(newEnd-a), len(w.data)
	rep.Torn = fl.name
	return pwriteAll(fl.fd, w.data[a-w.off:newEnd-w.off], a)
}

func pwriteAll(fd int, b []byte, off int64) error {
	for len(b) > 0 {
		n, err := unix.Pwrite(fd, b, off)
		if err != nil {
			return err
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}
