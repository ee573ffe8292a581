package main

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
)

// account is a user as the kernel checks file permissions for it: its
// uid, primary group and supplementary groups.
type account struct {
	name   string
	uid    uint32
	groups []uint32 // the primary group first
}

// lookupAccount finds the user name (or numeric uid) in the user database.
func lookupAccount(name string) (account, error) {
	u, err := user.Lookup(name)
	if err != nil {
		if _, numErr := strconv.ParseUint(name, 10, 32); numErr != nil {
			return account{}, err
		}
		if u, err = user.LookupId(name); err != nil {
			return account{}, err
		}
	}
	a := account{name: u.Username}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return account{}, fmt.Errorf("user %s: uid %q: %w", name, u.Uid, err)
	}
	a.uid = uint32(uid)
	gids, err := u.GroupIds()
	if err != nil {
		gids = nil // no group database entry: the primary group still counts
	}
	for _, g := range append([]string{u.Gid}, gids...) {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil && !slices.Contains(a.groups, uint32(n)) {
			a.groups = append(a.groups, uint32(n))
		}
	}
	return a, nil
}

// Permission bits, as in the owner's triple of a mode.
const (
	permRead  = 4
	permWrite = 2
	permExec  = 1
)

// canAccess reports why a cannot open path with the permission bits want
// (permRead, permWrite|permExec for a directory to write in), or nil. It
// follows symbolic links and checks the search (x) bit of every directory
// on the way, from the mode bits and owners as the kernel does for a
// process of a (ACLs and capabilities other than root's are not
// considered).
func (a account) canAccess(path string, want uint32) error {
	abs, err := filepath.Abs(path)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return err
	}
	for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
		if err := a.check(dir, permExec, "enter directory"); err != nil {
			return err
		}
		if dir == filepath.Dir(dir) {
			break
		}
	}
	verb := "read"
	if want&permWrite != 0 {
		verb = "write in"
	}
	return a.check(abs, want, verb)
}

// check compares one file's mode bits with want.
func (a account) check(path string, want uint32, verb string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || a.uid == 0 {
		return nil
	}
	perm := uint32(fi.Mode().Perm())
	var have uint32
	switch {
	case st.Uid == a.uid:
		have = perm >> 6
	case slices.Contains(a.groups, st.Gid):
		have = perm >> 3
	default:
		have = perm
	}
	if have&want == want {
		return nil
	}
	return fmt.Errorf("user %s (uid %d) cannot %s %s: mode %#o, owner %s, group %s",
		a.name, a.uid, verb, path, fi.Mode().Perm(), ownerName(st.Uid), groupName(st.Gid))
}

func ownerName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return u.Username
	}
	return id
}

func groupName(gid uint32) string {
	id := strconv.FormatUint(uint64(gid), 10)
	if g, err := user.LookupGroupId(id); err == nil {
		return g.Name
	}
	return id
}
