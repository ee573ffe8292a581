package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/crypto/bcrypt"
)

// runPasswd is `outbox passwd [--cost N] [--user NAME]`: it reads a
// password from standard input and prints its bcrypt hash for the
// password_hash of a [[users]] entry. On a terminal it prompts twice
// without echo; otherwise it reads the first line, so that scripts can pipe
// the password in (never pass it as an argument: ps shows arguments).
func runPasswd(ctx context.Context, c *cli, args []string) int {
	v := newVerbFlags(c, "passwd")
	fs := v.fs
	cost := fs.Int("cost", bcrypt.DefaultCost, "bcrypt `cost`, 4 to 31; each step doubles the work")
	user := fs.String("user", "", "print a whole [[users]] entry for `NAME` instead of the bare hash")
	pos, code, ok := v.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		fmt.Fprintln(c.stderr, "outbox passwd: the password is read from standard input, not from arguments")
		fs.Usage()
		return exitUsage
	}
	if *cost < bcrypt.MinCost || *cost > bcrypt.MaxCost {
		fmt.Fprintf(c.stderr, "outbox passwd: --cost must be from %d to %d\n", bcrypt.MinCost, bcrypt.MaxCost)
		return exitUsage
	}

	pw, err := readPassword(ctx, c)
	if err == nil && len(pw) == 0 {
		err = errors.New("empty password")
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "outbox passwd: %v\n", err)
		return exitError
	}
	hash, err := bcrypt.GenerateFromPassword(pw, *cost)
	if err != nil {
		// bcrypt.ErrPasswordTooLong: bcrypt uses at most 72 bytes.
		fmt.Fprintf(c.stderr, "outbox passwd: %v\n", err)
		return exitError
	}
	if *user == "" {
		fmt.Fprintf(c.stdout, "%s\n", hash)
		return exitOK
	}
	fmt.Fprintf(c.stdout, "[[users]]\nname = %q\npassword_hash = %q\n", *user, hash)
	return exitOK
}

// readPassword reads the password: with a prompt, twice and without echo
// when standard input is a terminal, else the first line of the input.
func readPassword(ctx context.Context, c *cli) ([]byte, error) {
	if f, ok := c.stdin.(*os.File); ok && isTerminal(f) {
		pw, err := readNoEcho(ctx, f, c.stderr, "Password: ")
		if err != nil {
			return nil, err
		}
		again, err := readNoEcho(ctx, f, c.stderr, "Retype password: ")
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(pw, again) {
			return nil, errors.New("the passwords do not match")
		}
		return pw, nil
	}
	line, err := bufio.NewReader(c.stdin).ReadBytes('\n')
	if err != nil && !(errors.Is(err, io.EOF) && len(line) > 0) {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("no password on standard input")
		}
		return nil, fmt.Errorf("reading the password: %w", err)
	}
	return trimEOL(line), nil
}

// trimEOL removes the line ending ("\n" or "\r\n") a password was typed or
// piped with; it is never part of the password.
func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}
