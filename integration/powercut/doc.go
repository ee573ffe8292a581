// Package powercut is a file system for tests that can lose power.
//
// It is a FUSE loopback (github.com/hanwen/go-fuse/v2) over a backing
// directory: every operation goes straight through to the backing files, and
// the file system remembers what a disk would not yet have made durable:
//
//   - per file, every write and truncate since the file's last fsync or
//     fdatasync (the bytes it overwrote, and the size before it);
//   - per directory, every name created, unlinked or renamed since the
//     directory's last fsync. A rename is durable once every directory it
//     touched has been fsynced after it. A file whose name was unlinked is
//     kept (hard-linked aside) until the cut, so an unlink that was not
//     durable can bring it back.
//
// FS.Cut is the power cut: the file system stops accepting changes,
// unmounts (so the kernel's page cache of it goes too), and rewrites the
// backing directory to what a disk would hold after losing power, by Mode:
// everything not durable dropped (DropAll); a random, seeded subset of the
// not-durable changes kept, as a disk that reorders writes would (KeepSome);
// or everything dropped except one 4 KiB page of the last not-durable write,
// which is torn: its first 512-byte sectors new, the rest old (TearPage).
// The backing directory is then "the disk" a new mount, or a process, can
// start from.
//
// FS.Arm freezes the file system at the first operation a predicate
// matches, refusing it and every later change with EIO: a cut at an exact
// point (during a commit, during a body write) rather than a random instant.
// The test then kills the process using the file system and calls Cut.
//
// The model is stricter than ext4 (whose journal makes a directory fsync
// commit every earlier metadata change) and looser than a real disk in one
// way: an fsync makes a file's data durable, not its name. Extended
// attributes, hard links made through the mount, O_TMPFILE,
// copy_file_range and fallocate are not tracked; they fail with ENOTSUP, so
// a program that needs them fails loudly instead of being tested wrongly.
//
// Mounting needs /dev/fuse and either root (the mount syscall directly) or
// fusermount3. The file system is served by the process that mounts it:
// that process may read and write files on it with system calls, but must
// not map them (mmap) — a page fault waiting on this file system cannot
// stop for the garbage collector, which stops the goroutines that would
// serve it, and the process deadlocks. Run what maps files (bbolt) in a
// child process.
//
// It knows nothing of Outbox: a test of any program can run on it.
// Never imports: config, store/..., queue/..., delivery/..., mxresolve/....
package powercut
