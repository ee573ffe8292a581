package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/store/fsfault"
)

const faultEnv = "OUTBOX_STORE_FAULT_DIR"

// TestHelperFaults is the child of the TestCommitFault tests: it opens the
// spool and runs commands read from stdin, one answer line each:
//
//	enqueue → "ID CLASS"    get ID → "CLASS"    probe → "CLASS"
//	failed → "true|false"
//
// CLASS is ok, nospace, failed, notfound or "other: ERR".
func TestHelperFaults(t *testing.T) {
	dir := os.Getenv(faultEnv)
	if dir == "" {
		t.Skip("helper process for the TestCommitFault tests")
	}
	db, err := Open(dir, Options{Logger: quietLogger()})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	fmt.Println("ready")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(sc.Text(), " ")
		switch cmd {
		case "enqueue":
			b, err := db.NewBody()
			if err == nil {
				b.Write([]byte("Subject: fault\r\n\r\nbody\r\n"))
				m := &Message{From: "f@test", Recipients: rcpts("a@b")}
				err = db.Enqueue(ctx, m, b)
				fmt.Println(b.ID(), errClass(err))
				continue
			}
			fmt.Println("- other:", err)
		case "get":
			_, err := db.Get(ctx, arg)
			fmt.Println(errClass(err))
		case "probe":
			fmt.Println(errClass(db.Probe(ctx)))
		case "failed":
			select {
			case <-db.Failed():
				fmt.Println("true")
			default:
				fmt.Println("false")
			}
		}
	}
	db.Close()
}

func errClass(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrFailed):
		if !errors.Is(err, ErrCommit) {
			return "other: ErrFailed without ErrCommit: " + err.Error()
		}
		return "failed"
	case errors.Is(err, ErrNoSpace):
		if !errors.Is(err, ErrCommit) {
			return "other: ErrNoSpace without ErrCommit: " + err.Error()
		}
		return "nospace"
	case errors.Is(err, ErrNotFound):
		return "notfound"
	}
	return "other: " + err.Error()
}

// faultChild is a running TestHelperFaults.
type faultChild struct {
	t   *testing.T
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startFaultChild(t *testing.T, dir string) *faultChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperFaults$", "-test.count=1")
	cmd.Env = append(os.Environ(), faultEnv+"="+dir)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &faultChild{t: t, cmd: cmd, in: in, out: bufio.NewScanner(out)}
	t.Cleanup(func() { in.Close(); cmd.Process.Kill(); cmd.Wait() })
	if got := c.line(); got != "ready" {
		t.Fatalf("child: %q", got)
	}
	return c
}

func (c *faultChild) line() string {
	c.t.Helper()
	if !c.out.Scan() {
		c.t.Fatalf("child ended: %v", c.out.Err())
	}
	return c.out.Text()
}

// do sends one command and returns its answer.
func (c *faultChild) do(cmd string) string {
	c.t.Helper()
	if _, err := fmt.Fprintln(c.in, cmd); err != nil {
		c.t.Fatal(err)
	}
	return c.line()
}

func (c *faultChild) enqueue() (id, class string) {
	c.t.Helper()
	id, class, _ = strings.Cut(c.do("enqueue"), " ")
	return id, class
}

// finish closes the child's stdin (it closes the DB) and waits for it.
func (c *faultChild) finish() {
	c.t.Helper()
	c.in.Close()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			c.t.Fatalf("child: %v", err)
		}
	case <-time.After(30 * time.Second):
		c.t.Fatal("child did not exit")
	}
}

// The TestCommitFault tests inject real fdatasync failures into a child
// process with strace and check failure.go's decisions: which failed
// commits leave the DB usable, which make it fail-stop, and what a reopen
// finds.

// TestCommitFaultNoSpace: an ENOSPC at a commit's first fdatasync, before
// its meta page, leaves the DB usable and nothing of the commit visible,
// before or after a reopen.
func TestCommitFaultNoSpace(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process under strace")
	}
	dir := t.TempDir()
	c := startFaultChild(t, dir)
	okID, class := c.enqueue()
	if class != "ok" {
		t.Fatalf("enqueue before the fault: %s", class)
	}
	// Every fdatasync fails, so every commit fails at its first one,
	// before the meta page is written.
	detach := fsfault.Inject(t, c.cmd.Process.Pid, "fdatasync", "error=ENOSPC")
	var refused []string
	for range 3 {
		id, class := c.enqueue()
		if class != "nospace" {
			t.Fatalf("enqueue during ENOSPC: %s, want nospace", class)
		}
		if got := c.do("get " + id); got != "notfound" {
			t.Errorf("message refused with ENOSPC is visible: get = %s", got)
		}
		refused = append(refused, id)
	}
	if got := c.do("failed"); got != "false" {
		t.Error("the DB failed on ENOSPC")
	}
	if got := c.do("probe"); got != "nospace" {
		t.Errorf("probe during ENOSPC = %s, want nospace", got)
	}
	detach()
	if got := c.do("probe"); got != "ok" {
		t.Errorf("probe after the fault = %s, want ok", got)
	}
	afterID, class := c.enqueue()
	if class != "ok" {
		t.Fatalf("enqueue after the fault: %s", class)
	}
	c.finish()
	db := openTest(t, dir, Options{})
	for _, id := range []string{okID, afterID} {
		if _, err := db.Get(context.Background(), id); err != nil {
			t.Errorf("acknowledged %s after reopen: %v", id, err)
		}
	}
	for _, id := range refused {
		if _, err := db.Get(context.Background(), id); !errors.Is(err, ErrNotFound) {
			t.Errorf("refused %s after reopen: %v, want not found", id, err)
		}
	}
}

// TestCommitFaultEIO: an EIO from fdatasync makes the DB fail-stop: reads
// and writes fail after the fault is over; a reopen finds what was
// acknowledged.
func TestCommitFaultEIO(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process under strace")
	}
	dir := t.TempDir()
	c := startFaultChild(t, dir)
	okID, _ := c.enqueue()
	detach := fsfault.Inject(t, c.cmd.Process.Pid, "fdatasync", "error=EIO")
	id, class := c.enqueue()
	if class != "failed" {
		t.Fatalf("enqueue during EIO: %s, want failed", class)
	}
	detach()
	// The fault is over, but the DB stays failed: reads and writes.
	if got := c.do("failed"); got != "true" {
		t.Error("Failed() not closed after EIO")
	}
	if got := c.do("get " + okID); got != "failed" {
		t.Errorf("get after fail-stop = %s, want failed", got)
	}
	if _, class := c.enqueue(); class != "failed" {
		t.Errorf("enqueue after fail-stop = %s, want failed", class)
	}
	c.finish()
	db := openTest(t, dir, Options{})
	if _, err := db.Get(context.Background(), okID); err != nil {
		t.Errorf("acknowledged %s after reopen: %v", okID, err)
	}
	if _, err := db.Get(context.Background(), id); !errors.Is(err, ErrNotFound) {
		t.Errorf("%s failed at its first fdatasync, found after reopen: %v", id, err)
	}
}

// TestCommitFaultMetaPage: a commit whose meta page was written but whose
// fdatasync failed makes the DB fail-stop, and a reopen finds it (the
// duplicate window).
func TestCommitFaultMetaPage(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process under strace")
	}
	dir := t.TempDir()
	c := startFaultChild(t, dir)
	// Every second fdatasync of a thread fails: a commit whose two
	// run on one thread fails at the meta page's; one that fails at
	// its first (ENOSPC, nothing visible) is recoverable, so go on.
	detach := fsfault.Inject(t, c.cmd.Process.Pid, "fdatasync", "error=ENOSPC:when=2+2")
	var ok, refused []string
	failedID := ""
	for range 20 {
		id, class := c.enqueue()
		switch class {
		case "ok":
			ok = append(ok, id)
		case "nospace":
			refused = append(refused, id)
		case "failed":
			failedID = id
		default:
			t.Fatalf("enqueue: %s", class)
		}
		if failedID != "" {
			break
		}
	}
	detach()
	if failedID == "" {
		t.Fatalf("no commit failed at its meta page in 20 (ok %d, refused %d)", len(ok), len(refused))
	}
	if got := c.do("get " + failedID); got != "failed" {
		t.Errorf("get after fail-stop = %s, want failed (the mmap shows the failed commit)", got)
	}
	c.finish()
	db := openTest(t, dir, Options{})
	ctx := context.Background()
	// The injected error was a lie: the meta page did reach the disk,
	// so the message whose commit "failed" is there. This is the
	// duplicate window doc.go describes (a 451 then a delivery).
	if _, err := db.Get(ctx, failedID); err != nil {
		t.Errorf("%s (meta page written) after reopen: %v, want found", failedID, err)
	}
	for _, id := range ok {
		if _, err := db.Get(ctx, id); err != nil {
			t.Errorf("acknowledged %s after reopen: %v", id, err)
		}
	}
	for _, id := range refused {
		if _, err := db.Get(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("refused %s after reopen: %v, want not found", id, err)
		}
	}
	t.Logf("ok %d, refused (ENOSPC at the first fdatasync) %d, then fail-stop at a meta page", len(ok), len(refused))
}
