package store

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
)

func TestFatalCommit(t *testing.T) {
	pathErr := func(errno syscall.Errno) error {
		return fmt.Errorf("commit: %w", &os.PathError{Op: "write", Path: "spool.db", Err: errno})
	}
	for _, tc := range []struct {
		name    string
		err     error
		visible bool
		want    bool
	}{
		{"ENOSPC, nothing visible", pathErr(syscall.ENOSPC), false, false},
		{"EDQUOT, nothing visible", pathErr(syscall.EDQUOT), false, false},
		{"bare ENOSPC errno (fdatasync)", syscall.ENOSPC, false, false},
		{"ENOSPC with the meta page visible", syscall.ENOSPC, true, true},
		{"EIO, nothing visible", pathErr(syscall.EIO), false, true},
		{"bare EIO errno (fdatasync)", syscall.EIO, false, true},
		{"EROFS", pathErr(syscall.EROFS), false, true},
		{"not the file system's", errors.New("mmap allocate error"), false, false},
		{"not the file system's, visible", errors.New("x"), true, true},
	} {
		if got := fatalCommit(tc.err, tc.visible); got != tc.want {
			t.Errorf("%s: fatalCommit = %v, want %v", tc.name, got, tc.want)
		}
	}
}
