package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sys/unix"
)

// openPTY returns the two ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// lockedBuffer is a bytes.Buffer the verb writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitForCond polls cond until it holds or the deadline passes.
func waitForCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPasswdTerminal types the password on a real pseudo-terminal: passwd
// prompts twice, the password is never echoed, and the hash matches.
func TestPasswdTerminal(t *testing.T) {
	for _, tt := range []struct {
		name          string
		first, second string
		code          int
		stderr        string
	}{
		{"match", "s3cret", "s3cret", exitOK, "Password: \nRetype password: \n"},
		{"mismatch", "s3cret", "other", exitError, "the passwords do not match"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			master, tty := openPTY(t)
			var stdout, stderr lockedBuffer
			done := make(chan int, 1)
			go func() {
				done <- runPasswd(context.Background(), &cli{stdin: tty, stdout: &stdout, stderr: &stderr}, []string{"--cost", "4"})
			}()
			waitForCond(t, "the first prompt", func() bool { return strings.Contains(stderr.String(), "Password: ") })
			fmt.Fprintf(master, "%s\n", tt.first)
			waitForCond(t, "the second prompt", func() bool { return strings.Contains(stderr.String(), "Retype password: ") })
			fmt.Fprintf(master, "%s\n", tt.second)
			var code int
			select {
			case code = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("passwd did not return")
			}
			if code != tt.code || !strings.Contains(stderr.String(), tt.stderr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tt.code, tt.stderr)
			}
			if tt.code == exitOK {
				hash := strings.TrimSpace(stdout.String())
				if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(tt.first)); err != nil {
					t.Errorf("hash %q does not match: %v", hash, err)
				}
			}
			// Everything the terminal showed, up to a marker written after
			// passwd returned: the password must not be in it.
			tty.WriteString("END\n")
			var shown []byte
			buf := make([]byte, 256)
			for !bytes.Contains(shown, []byte("END")) {
				n, err := master.Read(buf)
				if err != nil {
					t.Fatal(err)
				}
				shown = append(shown, buf[:n]...)
			}
			if bytes.Contains(shown, []byte(tt.first)) || bytes.Contains(shown, []byte(tt.second)) {
				t.Errorf("the terminal echoed the password: %q", shown)
			}
			// The terminal's echo is back on after passwd.
			tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
			if err != nil || tio.Lflag&unix.ECHO == 0 {
				t.Errorf("echo not restored: %v", err)
			}
		})
	}
}
