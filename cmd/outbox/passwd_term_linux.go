package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// The terminal handling of `outbox passwd`. golang.org/x/term would do
// this; it is not a dependency, and x/sys (already one) is enough for the
// two calls needed.

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// readNoEcho writes prompt to w and reads one line from the terminal f
// with echo turned off, restoring the terminal's mode before it returns —
// also when ctx is canceled (Ctrl-C: main turns SIGINT into cancellation,
// so the process would otherwise stay blocked in the read with echo off).
func readNoEcho(ctx context.Context, f *os.File, w io.Writer, prompt string) ([]byte, error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, err
	}
	t := *old
	t.Lflag &^= unix.ECHO
	t.Lflag |= unix.ICANON | unix.ISIG
	t.Iflag |= unix.ICRNL
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &t); err != nil {
		return nil, err
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	// Prompt only once echo is off, so nothing typed ahead is shown.
	fmt.Fprint(w, prompt)
	defer fmt.Fprintln(w) // the user's Enter was not echoed either

	type result struct {
		line []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		// Byte by byte: the terminal delivers one line per read in
		// canonical mode, but a buffered reader could still swallow the
		// start of the second prompt's answer.
		var line []byte
		var b [1]byte
		for {
			n, err := f.Read(b[:])
			if n == 1 {
				if b[0] == '\n' {
					done <- result{line: trimEOL(line)}
					return
				}
				line = append(line, b[0])
			}
			if err != nil {
				done <- result{line: line, err: err}
				return
			}
		}
	}()
	select {
	case r := <-done:
		return r.line, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
