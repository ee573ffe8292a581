// Package fsfault makes a running process's system calls fail, for
// durability tests: it attaches strace to the process and uses strace's
// syscall tampering (-e inject=SYSCALL:error=ERRNO[:when=EXPR]), so the
// process under test is the real binary with its real file layer, and the
// kernel never sees the failed calls.
//
// strace counts calls per thread for when= (a Go program's goroutines move
// between threads), so "when=2+2" means every second call of each thread.
//
// It imports nothing of Outbox. A test that needs strace skips when it is
// missing, and fails when CI is set (.ci/install-peers installs it).
//
// Never imports: cmd/..., config, store, queue/..., delivery/..., mxresolve/....
package fsfault

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// Inject attaches strace to every thread of pid (and those it starts) and
// makes the calls of syscall chosen by spec fail, for example
// Inject(t, pid, "fdatasync", "error=EIO:when=2+2"). It returns once strace
// has attached; the returned func detaches it (and is also run at the end
// of the test), after which the process runs untouched.
func Inject(t testing.TB, pid int, syscallName, spec string) (detach func()) {
	t.Helper()
	path, err := exec.LookPath("strace")
	if err != nil {
		skipOrFail(t, fmt.Sprintf("strace not installed: %v", err))
	}
	cmd := exec.Command(path, "-f", "-p", fmt.Sprint(pid), "-o", "/dev/null",
		"-e", "trace="+syscallName, "-e", "inject="+syscallName+":"+spec)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// strace says "Process N attached with K threads" once all are.
	sc := bufio.NewScanner(stderr)
	var lines []string
	attached := false
	for !attached && sc.Scan() {
		lines = append(lines, sc.Text())
		attached = strings.Contains(sc.Text(), "attached")
	}
	if !attached {
		cmd.Wait()
		skipOrFail(t, "strace could not attach (ptrace not permitted?): "+strings.Join(lines, "\n"))
	}
	go io.Copy(io.Discard, stderr)
	done := false
	detach = func() {
		if done {
			return
		}
		done = true
		// On SIGINT strace detaches from every thread and exits.
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
	}
	t.Cleanup(detach)
	return detach
}

func skipOrFail(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI needs strace: .ci/install-peers installs it)", msg)
	}
	t.Skip(msg)
}
